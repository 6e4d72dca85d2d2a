//! devgate's runtime: register, gateway, business worker and the API.
