package placement

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

// standardResourceClasses are os-resource-classes' STANDARDS, in its order (which is the
// order Placement lists them in).
var standardResourceClasses = []string{
	"VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF",
	"NUMA_SOCKET", "NUMA_CORE", "NUMA_THREAD", "NUMA_MEMORY_MB",
	"IPV4_ADDRESS", "VGPU", "VGPU_DISPLAY_HEAD",
	"NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC",
	"PCPU", "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU",
	"NET_PACKET_RATE_KILOPACKET_PER_SEC", "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
	"NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
}

// standardRCIndex gives each standard resource class its position, for ordering.
var standardRCIndex = func() map[string]int {
	m := make(map[string]int, len(standardResourceClasses))
	for i, rc := range standardResourceClasses {
		m[rc] = i
	}
	return m
}()

// osTraits is every trait os-traits defines (os_traits.get_traits()), one per line,
// generated from openstack/os-traits at d4ac0c1.
//
//go:embed os_traits.txt
var osTraits string

// standardTraits returns the os-traits names.
var standardTraits = sync.OnceValue(func() []string {
	var out []string
	for _, l := range strings.Split(osTraits, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
})

// traitSharesViaAggregate marks providers that share their inventory with the providers
// in their aggregates (os_traits.MISC_SHARES_VIA_AGGREGATE).
const traitSharesViaAggregate = "MISC_SHARES_VIA_AGGREGATE"

// Name patterns (placement/schemas/common.py).
const (
	rcPattern         = "^[A-Z0-9_]+$"
	customPattern     = "^CUSTOM_[A-Z0-9_]+$"
	consumerTypeRE    = "^[A-Z0-9_]+$"
	consumerTypeGetRE = "^[A-Z0-9_]+$|^all|^unknown$"
	uuidPattern       = "^[0-9a-fA-F-]{36}$"
	groupPat          = `[1-9][0-9]*`
	groupPat133       = `[a-zA-Z0-9_-]{1,64}`
)

// maxInt is Placement's MAX_INT for inventory amounts (a signed 32-bit integer).
const maxInt = 2147483647

// sqlSPFloatMax is the largest allocation ratio (a single-precision float's maximum).
const sqlSPFloatMax = 3.40282e+38
