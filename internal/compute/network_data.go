package compute

import (
	"encoding/json"
	"net/netip"
)

// networkData is the instance's network_data.json, as Nova's
// netutils.get_network_metadata builds it from the network info: one link per VIF
// with subnets (its tap device, the port's MAC, the network's MTU unless DHCP gives
// it), the first IPv4 and the first IPv6 subnet of each as a network (ipv4_dhcp /
// ipv6_dhcp when the subnet has DHCP; otherwise the static address, netmask, default
// and host routes and DNS, typed ipv6_<mode> for IPv6 address modes), and the DNS
// servers once each as services. nil when the instance has no network with subnets
// (the driver then writes its own).
func networkData(vifs []netVIF) []byte {
	links, nets, services := []map[string]any{}, []map[string]any{}, []map[string]any{}
	ifc, netNum := -1, -1
	addService := func(svcs []map[string]any) {
		for _, sv := range svcs {
			dup := false
			for _, have := range services {
				if have["address"] == sv["address"] {
					dup = true
				}
			}
			if !dup {
				services = append(services, sv)
			}
		}
	}
	for _, v := range vifs {
		if len(v.Network.Subnets) == 0 {
			continue
		}
		v4, v6 := firstSubnet(v.Network.Subnets, 4), firstSubnet(v.Network.Subnets, 6)
		ifc++
		if v4 == nil && v6 == nil {
			continue
		}
		link := ethLink(v, ifc)
		links = append(links, link)
		for _, sn := range []*netVIFSubnet{v4, v6} {
			if sn == nil || len(sn.IPs) == 0 {
				continue
			}
			netNum++
			nets = append(nets, networkEntry(v, sn, netNum, link["id"].(string)))
			addService(dnsServices(sn))
		}
	}
	if len(links) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"links": links, "networks": nets, "services": services})
	return b
}

// firstSubnet is a network's first subnet of an IP version.
func firstSubnet(subnets []netVIFSubnet, version int) *netVIFSubnet {
	for i := range subnets {
		if subnets[i].Version == version {
			return &subnets[i]
		}
	}
	return nil
}

// ethLink is a VIF's link (Nova's _get_eth_link): "ovs" and the other VIF types Nova
// exposes keep their type, anything else is "phy".
func ethLink(v netVIF, ifc int) map[string]any {
	id := v.Devname
	if id == "" {
		id = "interface" + itoa(ifc)
	}
	typ := "phy"
	switch v.Type {
	case "bridge", "ethernet", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif", "dvs", "vrouter", "hostdev_physical":
		typ = v.Type
	}
	var mtu any
	if v.Network.Meta.MTU > 0 {
		mtu = v.Network.Meta.MTU
	}
	for _, sn := range v.Network.Subnets {
		if d, ok := sn.Meta["dhcp_server"]; ok && d != nil && d != "" {
			mtu = nil // DHCP gives the MTU
		}
	}
	return map[string]any{"id": id, "vif_id": v.ID, "type": typ, "mtu": mtu, "ethernet_mac_address": v.Address}
}

// networkEntry is one network of network_data.json (Nova's _get_nets).
func networkEntry(v netVIF, sn *netVIFSubnet, num int, link string) map[string]any {
	id := "network" + itoa(num)
	version := itoa(sn.Version)
	suffix := ""
	if mode, ok := sn.Meta["ipv6_address_mode"].(string); ok && mode != "" {
		suffix = "_" + mode
	} else if dhcp, _ := sn.Meta["enable_dhcp"].(bool); dhcp || (sn.Meta["dhcp_server"] != nil && sn.Meta["dhcp_server"] != "") {
		return map[string]any{"id": id, "type": "ipv" + version + "_dhcp", "link": link, "network_id": v.Network.ID}
	}
	ip := sn.IPs[0].Address
	netmask := ""
	if pfx, err := netip.ParsePrefix(sn.CIDR); err == nil {
		netmask = maskOf(pfx)
	}
	routes := []map[string]any{}
	if sn.Gateway.Address != nil && *sn.Gateway.Address != "" {
		def := "0.0.0.0"
		if sn.Version == 6 {
			def = "::"
		}
		routes = append(routes, map[string]any{"network": def, "netmask": def, "gateway": *sn.Gateway.Address})
	}
	for _, r := range sn.Routes {
		rm, _ := r.(map[string]any)
		cidr, _ := rm["cidr"].(string)
		pfx, err := netip.ParsePrefix(cidr)
		if err != nil {
			continue
		}
		gw := ""
		if g, ok := rm["gateway"].(map[string]any); ok {
			gw, _ = g["address"].(string)
		}
		routes = append(routes, map[string]any{"network": pfx.Masked().Addr().String(), "netmask": maskOf(pfx), "gateway": gw})
	}
	return map[string]any{"id": id, "type": "ipv" + version + suffix, "link": link, "ip_address": ip, "netmask": netmask,
		"routes": routes, "network_id": v.Network.ID, "services": dnsServices(sn)}
}

// maskOf is a prefix's netmask in address form ("255.255.255.0", "ffff:ffff::").
func maskOf(p netip.Prefix) string {
	bits := p.Addr().BitLen()
	b := make([]byte, bits/8)
	for i := 0; i < p.Bits(); i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a.String()
}

// dnsServices are a subnet's DNS servers as network_data.json services.
func dnsServices(sn *netVIFSubnet) []map[string]any {
	out := []map[string]any{}
	for _, d := range sn.DNS {
		if d.Address != nil {
			out = append(out, map[string]any{"type": "dns", "address": *d.Address})
		}
	}
	return out
}
