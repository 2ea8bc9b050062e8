package network

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// dhcpOptionNames are the dnsmasq option names Neutron's DHCP agent passes through
// (dnsmasq --help dhcp), plus the names Neutron itself handles specially.
var dhcpOptionNames = map[string]bool{
	"netmask": true, "time-offset": true, "router": true, "dns-server": true, "log-server": true,
	"lpr-server": true, "hostname": true, "boot-file-size": true, "domain-name": true, "swap-server": true,
	"root-path": true, "extension-path": true, "ip-forward-enable": true, "non-local-source-routing": true,
	"policy-filter": true, "max-datagram-reassembly": true, "default-ttl": true, "mtu": true,
	"all-subnets-local": true, "broadcast": true, "router-discovery": true, "router-solicitation": true,
	"static-route": true, "trailer-encapsulation": true, "arp-timeout": true, "ethernet-encap": true,
	"tcp-ttl": true, "tcp-keepalive": true, "nis-domain": true, "nis-server": true, "ntp-server": true,
	"vendor-encap": true, "netbios-ns": true, "netbios-dd": true, "netbios-nodetype": true,
	"netbios-scope": true, "x-windows-fs": true, "x-windows-dm": true, "requested-address": true,
	"lease-time": true, "option-overload": true, "message-type": true, "server-identifier": true,
	"parameter-request": true, "message": true, "max-message-size": true, "T1": true, "T2": true,
	"vendor-class": true, "client-id": true, "nis+-domain": true, "nis+-server": true, "tftp-server": true,
	"bootfile-name": true, "mobile-ip-home": true, "smtp-server": true, "pop3-server": true,
	"nntp-server": true, "irc-server": true, "user-class": true, "rapid-commit": true, "FQDN": true,
	"agent-id": true, "client-arch": true, "client-interface-id": true, "client-machine-id": true,
	"subnet-select": true, "domain-search": true, "sip-server": true, "classless-static-route": true,
	"vendor-id-encap": true, "tftp-server-address": true, "server-ip-address": true, "ia-na": true,
	"ia-ta": true, "iaaddr": true, "preference": true, "unicast": true, "status": true, "dns-name": true,
	"nis+-server-domain": true, "sntp-server": true, "information-refresh-time": true,
	"bootfile-url": true, "bootfile-param": true, "ntp-server-address": true,
}

// multiValued are the options whose value is a comma-separated list in dnsmasq.
var multiValued = map[string]bool{
	"router": true, "dns-server": true, "ntp-server": true, "domain-search": true, "classless-static-route": true,
	"static-route": true, "netbios-ns": true, "sip-server": true, "log-server": true, "lpr-server": true,
	"nis-server": true, "smtp-server": true, "pop3-server": true, "policy-filter": true, "sntp-server": true,
	"nntp-server": true, "irc-server": true, "x-windows-fs": true, "x-windows-dm": true, "vendor-class": true,
}

// ValidateExtraDHCPOpts validates a port's extra_dhcp_opts. Each option has an opt_name
// that is a known dnsmasq option, an option number (1–254, or "option6:" numbers) or a
// plain name of letters, digits and "_.+-", an
// opt_value without control characters (so no option can end a dnsmasq line and inject
// configuration), commas only for options that take lists, and ip_version 4 or 6. A null
// opt_value is allowed on updates (it deletes the option). Values are returned in
// Neutron's shape.
func ValidateExtraDHCPOpts(list []api.Object, update bool) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(list))
	seen := map[string]bool{}
	for _, o := range list {
		for k := range o {
			if k != "opt_name" && k != "opt_value" && k != "ip_version" {
				return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("Unrecognized attribute(s) '%s'", truncate(k, 64)))
			}
		}
		name, ok := o["opt_name"].(string)
		if !ok || name == "" {
			return nil, invalidAttr("extra_dhcp_opts", "Invalid data format for extra-dhcp-opt: opt_name is required")
		}
		if !validOptName(name) {
			return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("'%s' is not a valid DHCP option name", truncate(name, 64)))
		}
		ver := int64(4)
		if v, has := o["ip_version"]; has && v != nil {
			n, err := strconv.ParseInt(strings.TrimSpace(fmt.Sprint(v)), 10, 64)
			if err != nil || (n != 4 && n != 6) {
				return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("'%s' is not in [4, 6]", truncate(fmt.Sprint(v), 16)))
			}
			ver = n
		}
		var value any
		raw, has := o["opt_value"]
		switch {
		case !has || raw == nil:
			if !update {
				return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("opt_value of '%s' must not be empty", truncate(name, 64)))
			}
		default:
			s, isStr := raw.(string)
			if !isStr || strings.TrimSpace(s) == "" {
				return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("opt_value of '%s' must be a non-empty string", truncate(name, 64)))
			}
			if len(s) > 255 {
				return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("opt_value of '%s' exceeds maximum length of 255", truncate(name, 64)))
			}
			for _, r := range s {
				if r < 0x20 || r == 0x7f {
					return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("opt_value of '%s' contains a control character", truncate(name, 64)))
				}
			}
			if strings.Contains(s, ",") && !multiValued[strings.TrimPrefix(name, "option:")] {
				return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("opt_value of '%s' must be a single value (no commas)", truncate(name, 64)))
			}
			value = s
		}
		key := fmt.Sprintf("%s/%d", name, ver)
		if seen[key] {
			return nil, invalidAttr("extra_dhcp_opts", fmt.Sprintf("Duplicate DHCP option '%s'", truncate(name, 64)))
		}
		seen[key] = true
		out = append(out, map[string]any{"opt_name": name, "opt_value": value, "ip_version": ver})
	}
	return out, nil
}

// validOptName accepts a known dnsmasq option (optionally "option:" or "option6:"
// prefixed) or an option number.
func validOptName(name string) bool {
	n := name
	for _, p := range []string{"option:", "option6:"} {
		n = strings.TrimPrefix(n, p)
	}
	if dhcpOptionNames[n] {
		return true
	}
	if num, err := strconv.Atoi(n); err == nil {
		return num >= 1 && num <= 254 && strconv.Itoa(num) == n
	}
	// Neutron stores any name; gostack accepts other names made only of letters, digits
	// and "_.+-" (which cannot end a configuration line or start another option) and its
	// own DHCP server ignores the ones it does not know.
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.+-", r)) {
			return false
		}
	}
	return true
}

// mergeDHCPOpts applies an update's options to the current ones: same name and version
// replace, a null value deletes.
func mergeDHCPOpts(cur []map[string]any, upd []map[string]any) []map[string]any {
	key := func(o map[string]any) string { return fmt.Sprintf("%v/%v", o["opt_name"], o["ip_version"]) }
	out := []map[string]any{}
	for _, o := range cur {
		if o["ip_version"] == nil {
			o["ip_version"] = int64(4)
		}
		if f, ok := o["ip_version"].(float64); ok {
			o["ip_version"] = int64(f)
		}
		out = append(out, o)
	}
	for _, u := range upd {
		idx := -1
		for i, o := range out {
			if key(o) == key(u) {
				idx = i
			}
		}
		switch {
		case u["opt_value"] == nil && idx >= 0:
			out = append(out[:idx], out[idx+1:]...)
		case u["opt_value"] == nil:
		case idx >= 0:
			out[idx] = u
		default:
			out = append(out, u)
		}
	}
	return out
}
