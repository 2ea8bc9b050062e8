package compute

// Placement is what compute needs from Placement; app wires it to internal/placement.
// (Filled in with the scheduler.)
type Placement interface{}
