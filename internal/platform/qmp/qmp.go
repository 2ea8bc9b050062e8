// Package qmp is a small client for the QEMU Machine Protocol: it dials a guest's QMP
// unix socket, reads the greeting, negotiates capabilities and runs commands, each
// tagged with an id so that replies are matched to their commands, while asynchronous
// events (which may arrive at any time, even before the capabilities reply) are
// delivered on a channel.
package qmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Error is an error QEMU answered a command with.
type Error struct {
	// Class is QMP's error class ("GenericError", "CommandNotFound", "DeviceNotFound"...)
	// and Desc its human-readable description.
	Class string
	Desc  string
}

func (e *Error) Error() string { return "qmp: " + e.Class + ": " + e.Desc }

// ErrClosed is returned for commands on a connection that is closed or was lost.
var ErrClosed = errors.New("qmp: connection closed")

// Event is an asynchronous QMP event ("SHUTDOWN", "STOP", "RESUME", "RESET", ...).
type Event struct {
	Event     string
	Data      map[string]any
	Timestamp time.Time
}

// message is any QMP message from the server, decoded loosely: exactly one of its
// kinds (greeting, reply, error, event) is set.
type message struct {
	Greeting *json.RawMessage `json:"QMP"`
	Return   json.RawMessage  `json:"return"`
	Error    *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event     string         `json:"event"`
	Data      map[string]any `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
	ID json.RawMessage `json:"id"`
}

// kind names what a decoded message is.
type kind int

const (
	kindGreeting kind = iota + 1
	kindReply
	kindEvent
)

// decode parses one line of the QMP stream.
func decode(line []byte) (message, kind, error) {
	var m message
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return m, 0, fmt.Errorf("qmp: bad message: %w", err)
	}
	if d.More() {
		return m, 0, errors.New("qmp: bad message: trailing data")
	}
	switch {
	case m.Greeting != nil:
		return m, kindGreeting, nil
	case m.Event != "":
		return m, kindEvent, nil
	case m.Return != nil || m.Error != nil:
		return m, kindReply, nil
	}
	return m, 0, errors.New("qmp: bad message: neither a greeting, a reply nor an event")
}

// Client is a QMP connection. Its methods are safe for concurrent use.
type Client struct {
	conn   net.Conn
	events chan Event

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan message
	err     error // set once the reader stops
	done    chan struct{}
}

// eventBuffer is how many events wait for a reader before new ones are dropped: a
// client that never reads events must not block command replies.
const eventBuffer = 64

// maxLine bounds one QMP message (query replies of big guests stay far below it).
const maxLine = 16 << 20

// Dial connects to the QMP socket at path, reads the greeting and negotiates
// capabilities, all within ctx.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: dial: %w", err)
	}
	c, err := NewClient(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient runs the QMP handshake on an open connection and returns the client that
// owns it.
func NewClient(ctx context.Context, conn net.Conn) (*Client, error) {
	c := &Client{conn: conn, events: make(chan Event, eventBuffer), pending: map[string]chan message{}, done: make(chan struct{})}
	r := bufio.NewReaderSize(conn, 64<<10)
	greeted := make(chan error, 1)
	go c.read(r, greeted)
	select {
	case err := <-greeted:
		if err != nil {
			conn.Close()
			<-c.done
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		<-c.done
		return nil, fmt.Errorf("qmp: greeting: %w", ctx.Err())
	}
	if err := c.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("qmp: capabilities: %w", err)
	}
	return c, nil
}

// read reads messages until the connection ends, reporting the greeting on greeted.
func (c *Client) read(r *bufio.Reader, greeted chan<- error) {
	defer close(c.done)
	defer close(c.events)
	greetedYet := false
	fail := func(err error) {
		c.mu.Lock()
		c.err = err
		for id, ch := range c.pending {
			close(ch)
			delete(c.pending, id)
		}
		c.mu.Unlock()
		if !greetedYet {
			greeted <- err
		}
	}
	for {
		line, err := readLine(r)
		if err != nil {
			fail(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, k, err := decode(line)
		if err != nil {
			c.conn.Close()
			fail(err)
			return
		}
		switch k {
		case kindGreeting:
			if !greetedYet {
				greetedYet = true
				greeted <- nil
			}
		case kindEvent:
			ev := Event{Event: m.Event, Data: m.Data}
			if m.Timestamp != nil {
				ev.Timestamp = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
			}
			select {
			case c.events <- ev:
			default: // nobody reads events: drop rather than stall replies
			}
		case kindReply:
			id := string(m.ID)
			c.mu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

// readLine reads one newline-terminated message of at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		part, err := r.ReadSlice('\n')
		out = append(out, part...)
		if len(out) > maxLine {
			return nil, errors.New("message too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// Events returns the channel events arrive on; it is closed when the connection ends.
// Events nobody reads beyond a small buffer are dropped.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Execute runs command with arguments args (nil: none) and decodes its return value
// into result (nil: ignored). A QEMU error is an *Error.
func (c *Client) Execute(ctx context.Context, command string, args any, result any) error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.nextID++
	id := strconv.Quote("gostack-" + strconv.FormatUint(c.nextID, 10))
	ch := make(chan message, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	req := map[string]any{"execute": command, "id": json.RawMessage(id)}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		c.forget(id)
		return fmt.Errorf("qmp: %s: %w", command, err)
	}
	b = append(b, '\n')
	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetWriteDeadline(dl)
	} else {
		_ = c.conn.SetWriteDeadline(time.Time{})
	}
	_, err = c.conn.Write(b)
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
		return fmt.Errorf("qmp: %s: %w: %v", command, ErrClosed, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return fmt.Errorf("qmp: %s: %w", command, err)
		}
		if m.Error != nil {
			return &Error{Class: m.Error.Class, Desc: m.Error.Desc}
		}
		if result != nil && len(m.Return) > 0 {
			if err := json.Unmarshal(m.Return, result); err != nil {
				return fmt.Errorf("qmp: %s: decode reply: %w", command, err)
			}
		}
		return nil
	case <-ctx.Done():
		c.forget(id)
		return fmt.Errorf("qmp: %s: %w", command, ctx.Err())
	}
}

// forget drops a pending command whose reply nobody waits for any more.
func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close ends the connection and waits for the reader to stop.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}
