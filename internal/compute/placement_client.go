package compute

import (
	"context"

	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/store"
)

// Placement is what compute needs from Placement: Nova's report client, in process.
//
// The methods use internal/placement's exported types directly: placement never imports
// compute, so there is no cycle, and *placement.Service satisfies the interface as it is
// (app wires Deps.Placement = the placement service; no adapter). Tests may substitute a
// fake. The write methods take an optional transaction so that the conductor can claim
// resources, check a server group's policy under its lock and assign the instance's host
// in one atomic step: a crash leaves either all of it or none.
type Placement interface {
	// EnsureComputeProvider creates or updates a compute node's provider (uuid = compute
	// node uuid, name = hypervisor hostname), its inventories and traits.
	EnsureComputeProvider(ctx context.Context, p placement.ComputeProvider) error
	// AllocationCandidates returns where a request fits, with usage summaries.
	AllocationCandidates(ctx context.Context, req placement.CandidateRequest) ([]placement.Candidate, error)
	// WriteAllocations replaces the allocations of the consumers atomically (claims,
	// moves); capacity and generation failures wrap placement.ErrAllocationConflict.
	WriteAllocations(ctx context.Context, tx *store.Tx, ws []placement.ConsumerAllocations) error
	// ConsumerAllocations reads a consumer's allocations and generation.
	ConsumerAllocations(ctx context.Context, tx *store.Tx, consumer string) (placement.ConsumerAllocations, error)
	// DeleteAllocations removes a consumer's allocations.
	DeleteAllocations(ctx context.Context, tx *store.Tx, consumer string) error
	// ProviderConsumers lists the consumers holding allocations against a provider.
	ProviderConsumers(ctx context.Context, provider string) ([]string, error)
}

var _ Placement = (*placement.Service)(nil)
