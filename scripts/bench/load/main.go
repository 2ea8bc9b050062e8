// Package main is the load command, the HTTP load generator of scripts/bench: it sends
// one request shape from a fixed number of concurrent clients, bounded by a request count and a duration,
// and prints one line of results (count, errors, throughput, latency percentiles) that
// the benchmark scripts parse. It uses only the standard library so that the figures can
// be reproduced from a checkout with nothing but Go.
//
// Usage:
//
//	load [flags]                  run a load test (see -h)
//	load wait -url U -since NS    poll U until it answers 200 and print the milliseconds
//	                              elapsed since the Unix time NS (nanoseconds)
//
// In a load test, the body and the URL may contain {{seq}}, replaced by a number unique to
// each request (1, 2, ...), so that the tool can also create N distinct resources.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// headerList collects repeated -H "Name: value" flags.
type headerList []string

// String returns the headers as given, for the flag package.
func (h *headerList) String() string { return strings.Join(*h, ", ") }

// Set adds one "Name: value" header.
func (h *headerList) Set(v string) error {
	if !strings.Contains(v, ":") {
		return fmt.Errorf("header %q is not Name: value", v)
	}
	*h = append(*h, v)
	return nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "wait" {
		os.Exit(runWait(os.Args[2:]))
	}
	os.Exit(runLoad(os.Args[1:]))
}

// runWait implements "load wait": it polls a URL until it answers 200 and prints the time
// from -since (taken by the caller just before it started the server) to that answer.
func runWait(args []string) int {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", "", "URL to poll with GET")
	since := fs.Int64("since", 0, "start time in Unix nanoseconds (default: now)")
	pid := fs.Int("pid", 0, "give up when this process is gone")
	interval := fs.Duration("interval", 5*time.Millisecond, "time between polls")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	_ = fs.Parse(args)
	if *url == "" {
		fmt.Fprintln(os.Stderr, "load wait: -url is required")
		return 2
	}
	start := time.Now()
	if *since != 0 {
		start = time.Unix(0, *since)
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(*url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("%.1f\n", float64(time.Since(start).Microseconds())/1000)
				return 0
			}
		}
		if *pid != 0 && syscall.Kill(*pid, 0) != nil {
			fmt.Fprintf(os.Stderr, "load wait: process %d exited before %s answered 200\n", *pid, *url)
			return 1
		}
		time.Sleep(*interval)
	}
	fmt.Fprintf(os.Stderr, "load wait: %s did not answer 200 within %s\n", *url, *timeout)
	return 1
}

// config is one load test.
type config struct {
	method   string
	url      string
	headers  http.Header
	body     string
	clients  int
	requests int64
	duration time.Duration
	warmup   int64
	expect   int
}

// result is what one client measured.
type result struct {
	latencies []time.Duration
	errors    int64
	firstErr  string
}

func runLoad(args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	var hs headerList
	cfg := config{headers: http.Header{}}
	fs.StringVar(&cfg.method, "method", "GET", "HTTP method")
	fs.StringVar(&cfg.url, "url", "", "request URL; {{seq}} is replaced per request")
	fs.Var(&hs, "H", `request header "Name: value" (repeatable)`)
	fs.StringVar(&cfg.body, "body", "", "request body; {{seq}} is replaced per request")
	fs.IntVar(&cfg.clients, "c", 1, "concurrent clients")
	fs.Int64Var(&cfg.requests, "n", 0, "stop after this many measured requests (0: no limit)")
	fs.DurationVar(&cfg.duration, "d", 20*time.Second, "stop after this long (0: no limit)")
	fs.Int64Var(&cfg.warmup, "warmup", 0, "requests sent (and not measured) before the test")
	fs.IntVar(&cfg.expect, "expect", 200, "status code that counts as success")
	_ = fs.Parse(args)
	if cfg.url == "" || cfg.clients < 1 || (cfg.requests == 0 && cfg.duration == 0) {
		fmt.Fprintln(os.Stderr, "load: -url, -c >= 1 and one of -n or -d are required")
		return 2
	}
	for _, h := range hs {
		name, value, _ := strings.Cut(h, ":")
		cfg.headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if cfg.body != "" && cfg.headers.Get("Content-Type") == "" {
		cfg.headers.Set("Content-Type", "application/json")
	}

	client := &http.Client{
		Timeout: 120 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        cfg.clients,
			MaxIdleConnsPerHost: cfg.clients,
			MaxConnsPerHost:     cfg.clients,
			DisableCompression:  true,
		},
	}
	var seq atomic.Int64
	if cfg.warmup > 0 {
		w := cfg
		w.requests, w.duration = cfg.warmup, 0
		run(client, w, &seq)
	}
	results, elapsed := run(client, cfg, &seq)

	var all []time.Duration
	var errs int64
	firstErr := ""
	for _, r := range results {
		all = append(all, r.latencies...)
		errs += r.errors
		if firstErr == "" {
			firstErr = r.firstErr
		}
	}
	slices.Sort(all)
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	rps := float64(len(all)) / elapsed.Seconds()
	fmt.Printf("requests=%d errors=%d seconds=%.2f rps=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s\n",
		len(all), errs, elapsed.Seconds(), rps,
		ms(percentile(all, 50)), ms(percentile(all, 90)), ms(percentile(all, 99)), ms(percentile(all, 100)))
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "load: %d requests failed; the first: %s\n", errs, firstErr)
	}
	if len(all) == 0 {
		return 1
	}
	return 0
}

// run sends requests from cfg.clients goroutines until cfg.requests have been sent or
// cfg.duration has passed, and returns each client's measurements and the elapsed time.
func run(client *http.Client, cfg config, seq *atomic.Int64) ([]result, time.Duration) {
	ctx := context.Background()
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	var issued atomic.Int64
	results := make([]result, cfg.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		r := &results[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				if cfg.requests > 0 && issued.Add(1) > cfg.requests {
					return
				}
				n := strconv.FormatInt(seq.Add(1), 10)
				t0 := time.Now()
				err := do(ctx, client, cfg, n)
				d := time.Since(t0)
				switch {
				case err == nil:
					r.latencies = append(r.latencies, d)
				case ctx.Err() != nil:
					// The test ended during this request: neither a success nor a failure.
					return
				default:
					r.errors++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
				}
			}
		})
	}
	wg.Wait()
	return results, time.Since(start)
}

// do sends one request and reads the whole response.
func do(ctx context.Context, client *http.Client, cfg config, n string) error {
	var body io.Reader
	if cfg.body != "" {
		body = bytes.NewReader([]byte(strings.ReplaceAll(cfg.body, "{{seq}}", n)))
	}
	req, err := http.NewRequestWithContext(ctx, cfg.method, strings.ReplaceAll(cfg.url, "{{seq}}", n), body)
	if err != nil {
		return err
	}
	for k, v := range cfg.headers {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != cfg.expect {
		if len(data) > 200 {
			data = data[:200]
		}
		return errors.New(resp.Status + ": " + string(data))
	}
	return nil
}

// percentile returns the p-th percentile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}
