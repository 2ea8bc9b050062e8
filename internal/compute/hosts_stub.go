package compute

import (
	computedriver "github.com/gostack/gostack/internal/driver/compute"
)

// hostDriver returns the compute driver of a host this process runs an agent for, for
// the synchronous calls the API makes (console output, remote consoles, diagnostics).
// ok is false when no agent here serves the host. (Placeholder; the host agent file
// replaces it.)
func (s *Service) hostDriver(host string) (d computedriver.Driver, ok bool) {
	return nil, false
}
