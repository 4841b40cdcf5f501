//! synack-sim: a deterministic, impairable network simulator.
