//! device-sim: simulated device fleets and load generation for devgate.
