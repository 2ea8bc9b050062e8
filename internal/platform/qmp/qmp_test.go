package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeServer is a scripted QMP server: it sends the greeting (after events when told
// to) and answers each command with handler's reply.
type fakeServer struct {
	preGreeting []string
	// handler answers one command: the lines to send (with the id filled in by "%ID%").
	handler func(cmd map[string]any) []string
}

func (f *fakeServer) serve(t *testing.T, conn net.Conn) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	send := func(s string) {
		w.WriteString(s + "\n")
		w.Flush()
	}
	for _, l := range f.preGreeting {
		send(l)
	}
	send(`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`)
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var cmd map[string]any
		if err := json.Unmarshal(line, &cmd); err != nil {
			t.Errorf("server: bad command %q", line)
			return
		}
		id, _ := json.Marshal(cmd["id"])
		for _, l := range f.handler(cmd) {
			send(strings.ReplaceAll(l, "%ID%", string(id)))
		}
	}
}

func dialFake(t *testing.T, f *fakeServer) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(t, conn)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestHandshakeEventsAndReplies(t *testing.T) {
	f := &fakeServer{
		preGreeting: nil,
		handler: func(cmd map[string]any) []string {
			switch cmd["execute"] {
			case "qmp_capabilities":
				// An event before the capabilities reply, as QEMU may send.
				return []string{`{"event": "RESUME", "timestamp": {"seconds": 1700000000, "microseconds": 5}}`,
					`{"return": {}, "id": %ID%}`}
			case "query-status":
				return []string{`{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 0}}`,
					`{"return": {"status": "paused", "running": false}, "id": %ID%}`}
			case "device_del":
				return []string{`{"error": {"class": "DeviceNotFound", "desc": "Device 'x' not found"}, "id": %ID%}`}
			}
			return []string{`{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": %ID%}`}
		},
	}
	c := dialFake(t, f)
	ctx := t.Context()
	var st struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := c.Execute(ctx, "query-status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "paused" || st.Running {
		t.Fatalf("status = %+v", st)
	}
	err := c.Execute(ctx, "device_del", map[string]any{"id": "x"}, nil)
	var qe *Error
	if !errors.As(err, &qe) || qe.Class != "DeviceNotFound" || !strings.Contains(qe.Desc, "not found") {
		t.Fatalf("device_del err = %v", err)
	}
	if err := c.Execute(ctx, "nope", nil, nil); !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("nope err = %v", err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-c.Events():
			got = append(got, ev.Event)
			if ev.Event == "RESUME" && ev.Timestamp.Unix() != 1700000000 {
				t.Errorf("timestamp = %v", ev.Timestamp)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("events so far %v", got)
		}
	}
	if got[0] != "RESUME" || got[1] != "STOP" {
		t.Fatalf("events = %v", got)
	}
}

func TestConcurrentCommandsMatchedByID(t *testing.T) {
	f := &fakeServer{handler: func(cmd map[string]any) []string {
		if cmd["execute"] == "qmp_capabilities" {
			return []string{`{"return": {}, "id": %ID%}`}
		}
		args, _ := json.Marshal(cmd["arguments"])
		return []string{`{"return": ` + string(args) + `, "id": %ID%}`}
	}}
	c := dialFake(t, f)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			var out struct{ N int }
			err := c.Execute(t.Context(), "echo", map[string]any{"N": i}, &out)
			if err == nil && out.N != i {
				err = errors.New("reply of another command")
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeadlineAndClosedConnection(t *testing.T) {
	quit := make(chan struct{})
	f := &fakeServer{handler: func(cmd map[string]any) []string {
		switch cmd["execute"] {
		case "qmp_capabilities":
			return []string{`{"return": {}, "id": %ID%}`}
		case "hang":
			return nil
		}
		close(quit)
		return nil
	}}
	c := dialFake(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.Execute(ctx, "hang", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang err = %v", err)
	}
	c.Close()
	if err := c.Execute(t.Context(), "query-status", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close err = %v", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events channel open after close")
	}
}

func TestServerGoneDuringCommand(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "q.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		r := bufio.NewReader(conn)
		conn.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
		line, _ := r.ReadBytes('\n')
		var cmd map[string]any
		json.Unmarshal(line, &cmd)
		id, _ := json.Marshal(cmd["id"])
		conn.Write([]byte(`{"return": {}, "id": ` + string(id) + "}\n"))
		r.ReadBytes('\n')
		conn.Close() // QEMU exits (quit) without answering
	}()
	c, err := Dial(t.Context(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Execute(t.Context(), "quit", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
}

func TestBadGreeting(t *testing.T) {
	for _, greeting := range []string{"garbage\n", `{"return": {}}` + "\n", ""} {
		a, b := net.Pipe()
		go func() {
			b.Write([]byte(greeting))
			b.Close()
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := NewClient(ctx, a)
		cancel()
		if err == nil {
			t.Errorf("greeting %q accepted", greeting)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind kind
		ok   bool
	}{
		{`{"QMP": {"version": {}}}`, kindGreeting, true},
		{`{"return": {}, "id": "a"}`, kindReply, true},
		{`{"return": [], "id": 1}`, kindReply, true},
		{`{"error": {"class": "GenericError", "desc": "x"}}`, kindReply, true},
		{`{"event": "SHUTDOWN", "data": {"guest": true}}`, kindEvent, true},
		{`{}`, 0, false},
		{`[1]`, 0, false},
		{`{"return": {}} {"return": {}}`, 0, false},
		{`{"event": 1}`, 0, false},
	} {
		_, k, err := decode([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && k != tc.kind) {
			t.Errorf("decode(%s) = %v, %v", tc.in, k, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"QMP": {}}`, `{"return": {}, "id": "x"}`, `{"event": "STOP", "timestamp": {"seconds": 1}}`,
		`{"error": {"class": "a", "desc": "b"}, "id": 2}`, `{"return": null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, k, err := decode(b)
		if err != nil {
			return
		}
		switch k {
		case kindGreeting:
			if m.Greeting == nil {
				t.Fatal("greeting without QMP")
			}
		case kindEvent:
			if m.Event == "" {
				t.Fatal("event without name")
			}
		case kindReply:
			if m.Return == nil && m.Error == nil {
				t.Fatal("reply without return or error")
			}
		default:
			t.Fatalf("kind %d without error", k)
		}
	})
}
