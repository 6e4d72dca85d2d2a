//! What a `Query` asks; the code travels as the query's `kind` byte.

/// The questions a gateway answers about its own clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum QueryKind {
    /// args: [client]. Answer: bool.
    IsOnline = 1,
    /// args: [client]. Answer: session object or null.
    Session = 2,
    /// args: [client]. Answer: uid string or null.
    UidOfClient = 3,
    /// args: uids. Answer: {uid: [client ids]} for uids with clients here.
    ClientsOfUids = 4,
    /// Answer: [uid].
    AllUids = 5,
    /// Answer: [group].
    AllGroups = 6,
    /// args: groups. Answer: {group: client count}.
    ClientCountOfGroups = 7,
    /// args: [group]. Answer: [client id].
    ClientsOfGroup = 8,
    /// args: [group]. Answer: [uid].
    UidsOfGroup = 9,
    /// args: [group]. Answer: {client id: session}.
    SessionsOfGroup = 10,
    /// Answer: [client id].
    AllClients = 11,
    /// Answer: {client id: session}.
    AllSessions = 12,
    /// Answer: client count.
    ClientCount = 13,
    /// Answer: this gateway's live counts (clients, uids, groups, `Stats` counters, held
    /// events, workers with their client counts) as one object, for `devgate status`.
    Status = 14,
}

impl QueryKind {
    /// The kind for a wire code, if known.
    pub fn from_u8(v: u8) -> Option<QueryKind> {
        use QueryKind::*;
        Some(match v {
            1 => IsOnline,
            2 => Session,
            3 => UidOfClient,
            4 => ClientsOfUids,
            5 => AllUids,
            6 => AllGroups,
            7 => ClientCountOfGroups,
            8 => ClientsOfGroup,
            9 => UidsOfGroup,
            10 => SessionsOfGroup,
            11 => AllClients,
            12 => AllSessions,
            13 => ClientCount,
            14 => Status,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::QueryKind;

    #[test]
    fn every_known_code_round_trips_and_the_rest_are_unknown() {
        let known: Vec<u8> = (0..=u8::MAX)
            .filter(|&v| match QueryKind::from_u8(v) {
                Some(k) => {
                    assert_eq!(k as u8, v, "{k:?} decodes from the wrong code");
                    true
                }
                None => false,
            })
            .collect();
        assert_eq!(known, (1..=14).collect::<Vec<u8>>());
        assert_eq!(QueryKind::from_u8(14), Some(QueryKind::Status));
    }
}
