package compute

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// hostUptime returns the `uptime` line of a host (" 05:50:01 up 3:51,  0 users,  load
// average: 0.50, 0.60, 0.70"), which Nova's libvirt driver reports for a hypervisor and
// clients parse. For hosts served by this process it is read from this machine's /proc
// at request time; for others, what their agent last stored (nil when unknown).
func (s *Service) hostUptime(n *computeNode) *string {
	if _, ok := s.hostDriver(n.Host); ok {
		if line, err := localUptime(now()); err == nil {
			return &line
		}
	}
	return n.Uptime
}

// localUptime formats this machine's uptime and load average as procps' uptime does.
func localUptime(at time.Time) (string, error) {
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "", err
	}
	load, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(up))
	l := strings.Fields(string(load))
	if len(f) < 1 || len(l) < 3 {
		return "", fmt.Errorf("unexpected /proc contents")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", err
	}
	return formatUptime(at, time.Duration(secs)*time.Second, l[0], l[1], l[2]), nil
}

// formatUptime renders the uptime line: "HH:MM:SS up [N days, ]H:MM,  0 users,  load
// average: a, b, c" (gostack does not count logged-in users).
func formatUptime(at time.Time, up time.Duration, l1, l5, l15 string) string {
	days := int(up.Hours()) / 24
	hours := int(up.Hours()) % 24
	mins := int(up.Minutes()) % 60
	var span string
	switch {
	case days > 0:
		span = fmt.Sprintf("%d days, %2d:%02d", days, hours, mins)
	default:
		span = fmt.Sprintf("%2d:%02d", hours, mins)
	}
	return fmt.Sprintf(" %s up %s,  0 users,  load average: %s, %s, %s", at.Format("15:04:05"), span, l1, l5, l15)
}
