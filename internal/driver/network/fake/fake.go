// Package fake is a network driver for tests and the scale simulator: it records every
// state it is handed and reports every port ACTIVE (or what a test tells it).
package fake

import (
	"context"
	"sync"

	netdriver "github.com/gostack/gostack/internal/driver/network"
)

// Driver records applied states.
type Driver struct {
	mu      sync.Mutex
	applied []*netdriver.State
	// Status, when set, overrides the status reported for a port id.
	status map[string]string
	// err, when set, is returned by Apply.
	err error
}

var _ netdriver.Driver = (*Driver)(nil)

// New returns a fake driver.
func New() *Driver { return &Driver{status: map[string]string{}} }

// Apply records state and reports its ports ACTIVE unless told otherwise.
func (d *Driver) Apply(ctx context.Context, state *netdriver.State) (*netdriver.Report, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	d.applied = append(d.applied, state)
	rep := &netdriver.Report{PortStatus: map[string]string{}, Alive: true}
	for _, p := range state.Ports {
		st := "ACTIVE"
		if s, ok := d.status[p.ID]; ok {
			st = s
		}
		if !p.AdminStateUp {
			st = "DOWN"
		}
		rep.PortStatus[p.ID] = st
	}
	return rep, nil
}

// Applied returns the states handed so far.
func (d *Driver) Applied() []*netdriver.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*netdriver.State(nil), d.applied...)
}

// Last returns the last state handed, or nil.
func (d *Driver) Last() *netdriver.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.applied) == 0 {
		return nil
	}
	return d.applied[len(d.applied)-1]
}

// SetPortStatus makes Apply report status for a port.
func (d *Driver) SetPortStatus(portID, status string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status[portID] = status
}

// FailWith makes Apply fail with err (nil: succeed again).
func (d *Driver) FailWith(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}
