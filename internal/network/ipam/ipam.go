// Package ipam is gostack's IP address management arithmetic: CIDR parsing and
// normalisation as Neutron validates it, default and explicit allocation pools, picking
// the next free address of a subnet, SLAAC (EUI-64) addresses, MAC addresses and prefix
// allocation from subnet pools. It holds no state: the network service keeps allocations
// in the database and calls these functions inside the allocating transaction.
package ipam

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// ParseCIDR parses a subnet CIDR. It returns the prefix as written and the prefix with
// host bits cleared; the two differ when the caller set host bits, which Neutron refuses
// for subnets ("isn't a recommended CIDR"). IPv4-mapped IPv6 forms and zones are refused.
func ParseCIDR(s string) (written, masked netip.Prefix, err error) {
	s = strings.TrimSpace(s)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("'%s' is not a valid IP subnet", s)
	}
	if p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("'%s' is not a valid IP subnet", s)
	}
	return p, p.Masked(), nil
}

// ParseIP parses a single address without zone; IPv4-mapped IPv6 addresses are unmapped
// only when the caller asks for IPv4, so "::ffff:10.0.0.1" stays an IPv6 address.
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("'%s' is not a valid IP address", s)
	}
	return a, nil
}

// Pool is an inclusive range of addresses a subnet hands out.
type Pool struct {
	Start, End netip.Addr
}

// String renders a pool as Neutron's exceptions do ("10.0.0.2-10.0.0.254").
func (p Pool) String() string { return p.Start.String() + "-" + p.End.String() }

// Contains reports whether a is inside the pool.
func (p Pool) Contains(a netip.Addr) bool {
	return a.BitLen() == p.Start.BitLen() && a.Compare(p.Start) >= 0 && a.Compare(p.End) <= 0
}

// Size returns the number of addresses in the pool (saturating at 2^63-1 for huge IPv6
// ranges, which Neutron's availability report cannot show exactly either).
func (p Pool) Size() *big.Int {
	s := new(big.Int).SetBytes(p.Start.AsSlice())
	e := new(big.Int).SetBytes(p.End.AsSlice())
	n := new(big.Int).Sub(e, s)
	return n.Add(n, big.NewInt(1))
}

// First and Last return the first and last addresses of a prefix.
func First(p netip.Prefix) netip.Addr { return p.Masked().Addr() }

// Last returns the last address of p (the IPv4 broadcast address).
func Last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 7; j >= 0; j-- {
			if i*8+(7-j) >= bits {
				b[i] |= 1 << j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Usable returns the first and last addresses a pool may use: IPv4 leaves out the
// network and broadcast addresses, IPv6 only the subnet-router anycast address (the
// first). ok is false when nothing is usable (an IPv4 /31 or /32, an IPv6 /128).
func Usable(p netip.Prefix) (first, last netip.Addr, ok bool) {
	f, l := First(p), Last(p)
	if f == l {
		return f, l, false
	}
	first = f.Next()
	last = l
	if p.Addr().Is4() {
		last = l.Prev()
	}
	if first.Compare(last) > 0 || (p.Addr().Is4() && first == last && p.Bits() == 31) {
		return first, last, false
	}
	return first, last, true
}

// DefaultPools returns Neutron's default allocation pools for a subnet: every usable
// address minus the gateway, as one or two ranges.
func DefaultPools(p netip.Prefix, gateway netip.Addr) []Pool {
	f, l := First(p), Last(p)
	if f == l {
		return []Pool{{f, l}}
	}
	first, last, ok := Usable(p)
	if !ok || first.Compare(last) >= 0 {
		return nil
	}
	return Subtract([]Pool{{first, last}}, gateway)
}

// Subtract removes one address from pools, splitting the range that holds it.
func Subtract(pools []Pool, a netip.Addr) []Pool {
	if !a.IsValid() {
		return pools
	}
	var out []Pool
	for _, pl := range pools {
		if !pl.Contains(a) {
			out = append(out, pl)
			continue
		}
		if pl.Start != a {
			out = append(out, Pool{pl.Start, a.Prev()})
		}
		if pl.End != a {
			out = append(out, Pool{a.Next(), pl.End})
		}
	}
	return out
}

// PoolError is a pool validation failure; Kind names Neutron's exception.
type PoolError struct {
	// Kind is InvalidAllocationPool, OutOfBoundsAllocationPool,
	// OverlappingAllocationPools or GatewayConflictWithAllocationPools.
	Kind    string
	Message string
}

func (e *PoolError) Error() string { return e.Message }

// ValidatePools checks explicit allocation pools against the subnet and its gateway as
// Neutron does: each range well formed and of the subnet's family, inside the usable
// part of the CIDR, not overlapping another range, and not holding the gateway.
func ValidatePools(p netip.Prefix, pools []Pool, gateway netip.Addr) error {
	first, last, _ := Usable(p)
	if f, l := First(p), Last(p); f == l {
		first, last = f, l
	}
	for _, pl := range pools {
		if !pl.Start.IsValid() || !pl.End.IsValid() || pl.Start.BitLen() != pl.End.BitLen() ||
			pl.Start.Compare(pl.End) > 0 || pl.Start.BitLen() != p.Addr().BitLen() {
			return &PoolError{"InvalidAllocationPool", fmt.Sprintf("The allocation pool %s is not valid.", pl)}
		}
		if pl.Start.Compare(first) < 0 || pl.End.Compare(last) > 0 {
			return &PoolError{"OutOfBoundsAllocationPool",
				fmt.Sprintf("The allocation pool %s spans beyond the subnet cidr %s.", pl, p)}
		}
	}
	sorted := slices.Clone(pools)
	slices.SortFunc(sorted, func(a, b Pool) int { return a.Start.Compare(b.Start) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Start.Compare(sorted[i-1].End) <= 0 {
			return &PoolError{"OverlappingAllocationPools",
				fmt.Sprintf("Found overlapping allocation pools: %s %s for subnet %s.", sorted[i-1], sorted[i], p)}
		}
	}
	if gateway.IsValid() {
		for _, pl := range pools {
			if pl.Contains(gateway) {
				return &PoolError{"GatewayConflictWithAllocationPools",
					fmt.Sprintf("Gateway ip %s conflicts with allocation pool %s.", gateway, pl)}
			}
		}
	}
	return nil
}

// NextFree returns the first address of pools, in pool order, that used does not
// report. It walks at most len(used)+1 addresses per pool, so the cost follows the number
// of allocations, not the size of the subnet.
func NextFree(pools []Pool, used map[netip.Addr]bool) (netip.Addr, bool) {
	for _, pl := range pools {
		for a := pl.Start; a.IsValid() && a.Compare(pl.End) <= 0; a = a.Next() {
			if !used[a] {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// InPools reports whether a is inside one of pools.
func InPools(pools []Pool, a netip.Addr) bool {
	return slices.ContainsFunc(pools, func(p Pool) bool { return p.Contains(a) })
}

// EUI64 returns the SLAAC address of mac in an IPv6 /64 (RFC 4291 appendix A): the MAC
// split by ff:fe with the universal/local bit flipped.
func EUI64(p netip.Prefix, mac string) (netip.Addr, error) {
	hw, err := ParseMAC(mac)
	if err != nil {
		return netip.Addr{}, err
	}
	if !p.Addr().Is6() || p.Bits() > 64 {
		return netip.Addr{}, errors.New("EUI-64 needs an IPv6 prefix of /64 or shorter")
	}
	b := p.Masked().Addr().As16()
	var m [6]byte
	for i := range 6 {
		fmt.Sscanf(hw[i*3:i*3+2], "%02x", &m[i])
	}
	b[8], b[9], b[10], b[11] = m[0]^0x02, m[1], m[2], 0xff
	b[12], b[13], b[14], b[15] = 0xfe, m[3], m[4], m[5]
	return netip.AddrFrom16(b), nil
}

// ParseMAC validates a 48-bit MAC address in colon, dash or bare hexadecimal form and
// returns it in Neutron's lowercase colon form. Multicast and all-zero addresses are
// refused, as Neutron's validator does.
func ParseMAC(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.NewReplacer("-", ":", ".", "").Replace(t)
	if !strings.Contains(t, ":") && len(t) == 12 {
		t = t[0:2] + ":" + t[2:4] + ":" + t[4:6] + ":" + t[6:8] + ":" + t[8:10] + ":" + t[10:12]
	}
	parts := strings.Split(t, ":")
	if len(parts) != 6 {
		return "", fmt.Errorf("'%s' is not a valid MAC address", s)
	}
	for _, p := range parts {
		if len(p) != 2 || strings.Trim(p, "0123456789abcdef") != "" {
			return "", fmt.Errorf("'%s' is not a valid MAC address", s)
		}
	}
	if t == "00:00:00:00:00:00" {
		return "", fmt.Errorf("'%s' is not a valid MAC address", s)
	}
	var first byte
	fmt.Sscanf(parts[0], "%02x", &first)
	if first&1 == 1 {
		return "", fmt.Errorf("'%s' is not a valid MAC address", s)
	}
	return t, nil
}

// RandomMAC returns a random MAC address with the given three-octet prefix
// ("fa:16:3e", Neutron's base_mac).
func RandomMAC(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%02x:%02x:%02x", prefix, b[0], b[1], b[2])
}

// Overlaps reports whether two prefixes share an address.
func Overlaps(a, b netip.Prefix) bool {
	return a.Addr().BitLen() == b.Addr().BitLen() && a.Masked().Overlaps(b.Masked())
}

// AllocatePrefix returns the first prefix of length bits inside one of pool (in order)
// that overlaps none of used.
func AllocatePrefix(pool []netip.Prefix, used []netip.Prefix, bits int) (netip.Prefix, bool) {
	for _, p := range pool {
		if bits < p.Bits() || bits > p.Addr().BitLen() {
			continue
		}
		cand := netip.PrefixFrom(First(p), bits)
		for cand.IsValid() && p.Contains(cand.Addr()) {
			clash := netip.Prefix{}
			for _, u := range used {
				if Overlaps(u, cand) {
					clash = u
					break
				}
			}
			if !clash.IsValid() {
				return cand, true
			}
			// Jump past whichever is larger: the candidate or the clashing prefix.
			end := Last(cand)
			if clash.Bits() < cand.Bits() {
				end = Last(clash)
			}
			next := end.Next()
			if !next.IsValid() {
				break
			}
			cand = netip.PrefixFrom(next, bits).Masked()
		}
	}
	return netip.Prefix{}, false
}
