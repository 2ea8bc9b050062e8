package network

// Extensions of the L3 and security part, with neutron-lib's (or Neutron's) names,
// descriptions and update stamps. Each resource registers its own when it is built.
var (
	extSecurityGroup = []Extension{
		{"security-group", "security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00"},
		{"stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not", "2019-11-26T09:00:00-00:00"},
		{"security-groups-remote-address-group", "Remote address group id field for security group rules", "Add new field of remote address group id in SG rules", "2020-08-25T10:00:00-00:00"},
		{"security-groups-default-rules", "Default rules for security groups", "Configure set of security group rules used as default rules for every new security group", "2022-12-19T10:00:00-00:00"},
		{"security-groups-normalized-cidr", "Normalized CIDR field for security group rules", "Add new field with normalized remote_ip_prefix cidr in SG rule", "2020-07-28T10:00:00-00:00"},
		{"security-groups-rules-belongs-to-default-sg", "Security group rule belongs to the project's default security group", "Flag to determine if the security group rule belongs to the project's default security group", "2023-05-23T10:00:00-00:00"},
		{"address-group", "Address group", "Support address group", "2020-07-15T10:00:00-00:00"},
	}
	extRouter = []Extension{
		{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00"},
		{"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00"},
		{"extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a router on server side by atomically adding/removing extra routes", "2019-07-10T00:00:00+00:00"},
		{"ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00"},
		{"l3-ha", "HA Router extension", "Adds HA capability to routers.", "2014-04-26T00:00:00-00:00"},
		{"dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual Routers.", "2014-06-1T10:00:00-00:00"},
		{"router_availability_zone", "Router Availability Zone", "Availability zone support for router.", "2015-01-01T10:00:00-00:00"},
		{"fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource", "2018-04-09T10:00:00-00:00"},
	}
	extAgent = []Extension{
		{"agent", "agent", "The agent management extension.", "2013-02-03T10:00:00-00:00"},
		{"dhcp_agent_scheduler", "DHCP Agent Scheduler", "Schedule networks among dhcp agents", "2013-02-07T10:00:00-00:00"},
		{"l3_agent_scheduler", "L3 Agent Scheduler", "Schedule routers among l3 agents", "2013-02-07T10:00:00-00:00"},
	}
)
