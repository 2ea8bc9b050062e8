// Package network is the network driver contract: the desired state a host must realise
// (networks with their segments, the ports bound to the host with their addresses and
// security group rules, DHCP entries, routers and floating IPs) handed to a driver that
// makes it so and reports back. Apply is declarative and idempotent: calling it twice
// with the same state changes nothing, so the service can hand a host its whole state
// after every change and after every restart.
package network

import "context"

// Driver realises a host's desired network state.
type Driver interface {
	// Apply makes the host match state (adding, changing and removing what differs) and
	// reports the status of each port it was handed.
	Apply(ctx context.Context, state *State) (*Report, error)
}

// State is everything one host must realise.
type State struct {
	// Host is the host this state is for (ports' binding:host_id).
	Host string
	// Revision increases with every change the state reflects; drivers may skip a state
	// whose revision they already applied.
	Revision int64
	// Networks are the networks with at least one port on the host, plus external
	// networks the host's routers use.
	Networks []Network
	// Ports are the ports bound to the host.
	Ports []Port
	// SecurityGroups are the groups the ports use, with their rules.
	SecurityGroups []SecurityGroup
	// DHCP are the DHCP entries per subnet served on the host.
	DHCP []DHCPSubnet
	// Routers are the routers hosted here (filled once routers exist).
	Routers []Router
	// FloatingIPs are the floating IPs NATed here (filled once they exist).
	FloatingIPs []FloatingIP
	// Metadata says whether the metadata proxy (169.254.169.254) is served.
	Metadata bool
	// QoSPolicies are the QoS policies the networks and ports name, with their rules.
	QoSPolicies []QoSPolicy
}

// Network is a network and how it reaches the wire.
type Network struct {
	ID, Name, ProjectID string
	AdminStateUp        bool
	MTU                 int
	External            bool
	Segments            []Segment
	Subnets             []Subnet
	// QoSPolicyID is the network's QoS policy ("" none); its ports without their own
	// inherit it (see Port.QoSPolicyID).
	QoSPolicyID string
}

// Segment is one L2 segment of a network.
type Segment struct {
	// NetworkType is flat, vlan, vxlan, geneve or local.
	NetworkType string
	// PhysicalNetwork names the provider network (flat, vlan), empty for tunnels.
	PhysicalNetwork string
	// SegmentationID is the VLAN id or tunnel VNI (0 for flat and local).
	SegmentationID int
}

// Subnet is a subnet's addressing.
type Subnet struct {
	ID, CIDR, GatewayIP string
	IPVersion           int
	EnableDHCP          bool
	IPv6RAMode          string
	IPv6AddressMode     string
	DNSNameservers      []string
	HostRoutes          []Route
}

// Route is a destination and next hop.
type Route struct {
	Destination, NextHop string
}

// Port is a port bound to the host.
type Port struct {
	ID, NetworkID, ProjectID, DeviceID, DeviceOwner string
	MACAddress                                      string
	AdminStateUp                                    bool
	MTU                                             int
	FixedIPs                                        []FixedIP
	// PortSecurity enables anti-spoofing and security groups.
	PortSecurity        bool
	SecurityGroupIDs    []string
	AllowedAddressPairs []AddressPair
	VNICType            string
	Profile             map[string]any
	// QoSPolicyID is the QoS policy the port must enforce ("" none): its own, else its
	// network's unless a network device owns the port (router gateways excepted).
	QoSPolicyID string
	// Trunk is set when the port is a trunk's parent: its subports ride it VLAN-tagged.
	Trunk *Trunk
}

// QoSPolicy is a QoS policy with its rules.
type QoSPolicy struct {
	ID    string
	Rules []QoSRule
}

// QoSRule is one QoS rule: Type bandwidth_limit (MaxKbps, MaxBurstKbps, Direction),
// dscp_marking (DSCPMark) or minimum_bandwidth (MinKbps, Direction). Direction is
// ingress or egress as Neutron sees it from the VM's side of the port.
type QoSRule struct {
	ID, Type, Direction            string
	MaxKbps, MaxBurstKbps, MinKbps int64
	DSCPMark                       int
}

// Trunk is a trunk on its parent port.
type Trunk struct {
	ID           string
	AdminStateUp bool
	SubPorts     []SubPort
}

// SubPort is a port carried on a trunk's parent with a VLAN tag; its network is in the
// state's Networks. Once the trunk is wired the subport is bound to the parent's host
// (device_owner trunk:subport) and also appears in Ports, where its status is reported.
type SubPort struct {
	PortID, NetworkID, MACAddress string
	// SegmentationType is "vlan"; SegmentationID the VLAN id (1–4094).
	SegmentationType string
	SegmentationID   int
	FixedIPs         []FixedIP
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID, IPAddress string
}

// AddressPair is an extra address (or CIDR) and MAC a port may send from.
type AddressPair struct {
	IPAddress, MACAddress string
}

// SecurityGroup is a group with its rules, as ports reference it.
type SecurityGroup struct {
	ID       string
	Stateful bool
	Rules    []SecurityGroupRule
	// MemberIPs are the addresses of the group's ports, for rules naming the group as
	// remote_group_id.
	MemberIPs []string
}

// SecurityGroupRule is one rule.
type SecurityGroupRule struct {
	ID, Direction, EtherType, Protocol string
	PortRangeMin, PortRangeMax         int
	RemoteIPPrefix, RemoteGroupID      string
	RemoteAddressGroupCIDRs            []string
}

// DHCPSubnet is what the DHCP server answers on a subnet.
type DHCPSubnet struct {
	NetworkID, SubnetID string
	// ServerIP is the DHCP port's address.
	ServerIP string
	Entries  []DHCPEntry
}

// DHCPEntry is one host's lease.
type DHCPEntry struct {
	PortID, MACAddress, IPAddress, Hostname string
	Options                                 []DHCPOption
}

// DHCPOption is a validated extra DHCP option.
type DHCPOption struct {
	Name, Value string
	IPVersion   int
}

// Router is a router with its interfaces and gateway.
type Router struct {
	ID, ProjectID string
	AdminStateUp  bool
	Interfaces    []RouterInterface
	Gateway       *RouterGateway
	Routes        []Route
	Distributed   bool
	HA            bool
}

// RouterInterface is a router port on an internal subnet.
type RouterInterface struct {
	PortID, NetworkID, SubnetID, IPAddress, CIDR, MACAddress string
}

// RouterGateway is a router's external leg.
type RouterGateway struct {
	PortID, NetworkID, MACAddress string
	FixedIPs                      []FixedIP
	EnableSNAT                    bool
}

// FloatingIP is a NAT of an external address to a fixed one.
type FloatingIP struct {
	ID, RouterID, FloatingIPAddress, FixedIPAddress, PortID string
}

// Report is what a driver reports after Apply.
type Report struct {
	// PortStatus is each handed port's status (ACTIVE when wired).
	PortStatus map[string]string
	// Alive says the host's agent is working (agents list).
	Alive bool
}
