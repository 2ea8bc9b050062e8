package compute

import (
	"encoding/json"
	"testing"
)

func TestNetworkData(t *testing.T) {
	str := func(s string) *string { return &s }
	four, six := 4, 6
	vifs := []netVIF{
		{ID: "port-dhcp", Address: "fa:16:3e:00:00:01", Type: "ovs", Devname: "tapport-dhcp",
			Network: netVIFNet{ID: "net-a", Meta: netVIFNetMeta{MTU: 1450}, Subnets: []netVIFSubnet{{
				CIDR: "10.0.0.0/24", Version: 4, Gateway: netVIFIP{Address: str("10.0.0.1"), Version: &four},
				DNS: []netVIFIP{{Address: str("10.0.0.2")}}, IPs: []netVIFAddr{{Address: "10.0.0.5", Version: 4}},
				Meta: map[string]any{"dhcp_server": nil, "enable_dhcp": true}}}}},
		{ID: "port-static", Address: "fa:16:3e:00:00:02", Type: "ovs", Devname: "tapport-stat",
			Network: netVIFNet{ID: "net-b", Meta: netVIFNetMeta{MTU: 1500}, Subnets: []netVIFSubnet{
				{CIDR: "192.168.7.0/25", Version: 4, Gateway: netVIFIP{Address: str("192.168.7.1"), Version: &four},
					DNS:    []netVIFIP{{Address: str("10.0.0.2")}, {Address: str("8.8.8.8")}},
					IPs:    []netVIFAddr{{Address: "192.168.7.9", Version: 4}, {Address: "192.168.7.10", Version: 4}},
					Routes: []any{map[string]any{"cidr": "172.16.0.0/16", "gateway": map[string]any{"address": "192.168.7.3"}}},
					Meta:   map[string]any{}},
				{CIDR: "fd00:1::/64", Version: 6, Gateway: netVIFIP{Address: str("fd00:1::1"), Version: &six},
					IPs:  []netVIFAddr{{Address: "fd00:1::9", Version: 6}},
					Meta: map[string]any{"ipv6_address_mode": "slaac"}},
				{CIDR: "10.9.0.0/24", Version: 4, IPs: []netVIFAddr{{Address: "10.9.0.4", Version: 4}}, Meta: map[string]any{}},
			}}},
		{ID: "port-nosubnet", Address: "fa:16:3e:00:00:03", Type: "ovs", Devname: "tapport-nosu",
			Network: netVIFNet{ID: "net-c", Subnets: []netVIFSubnet{}}},
	}
	var got map[string]any
	if err := json.Unmarshal(networkData(vifs), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"links":[` +
		`{"ethernet_mac_address":"fa:16:3e:00:00:01","id":"tapport-dhcp","mtu":1450,"type":"ovs","vif_id":"port-dhcp"},` +
		`{"ethernet_mac_address":"fa:16:3e:00:00:02","id":"tapport-stat","mtu":1500,"type":"ovs","vif_id":"port-static"}],` +
		`"networks":[` +
		`{"id":"network0","link":"tapport-dhcp","network_id":"net-a","type":"ipv4_dhcp"},` +
		`{"id":"network1","ip_address":"192.168.7.9","link":"tapport-stat","netmask":"255.255.255.128","network_id":"net-b",` +
		`"routes":[{"gateway":"192.168.7.1","netmask":"0.0.0.0","network":"0.0.0.0"},{"gateway":"192.168.7.3","netmask":"255.255.0.0","network":"172.16.0.0"}],` +
		`"services":[{"address":"10.0.0.2","type":"dns"},{"address":"8.8.8.8","type":"dns"}],"type":"ipv4"},` +
		`{"id":"network2","ip_address":"fd00:1::9","link":"tapport-stat","netmask":"ffff:ffff:ffff:ffff::","network_id":"net-b",` +
		`"routes":[{"gateway":"fd00:1::1","netmask":"::","network":"::"}],"services":[],"type":"ipv6_slaac"}],` +
		`"services":[{"address":"10.0.0.2","type":"dns"},{"address":"8.8.8.8","type":"dns"}]}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("network_data.json\n got %s\nwant %s", b, want)
	}
	if networkData(nil) != nil || networkData(vifs[2:]) != nil {
		t.Error("no subnets: want nil (the driver writes its own)")
	}
}
