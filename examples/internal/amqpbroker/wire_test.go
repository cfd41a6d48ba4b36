package amqpbroker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// rawConn speaks the protocol by hand, to send what a well-behaved client
// never would.
type rawConn struct {
	t  testing.TB
	nc *net.TCPConn
	r  *bufio.Reader
}

func rawDial(t testing.TB, b *Broker) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	return &rawConn{t: t, nc: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) method(ch, class, method uint16, fill func(e *encoder)) {
	c.t.Helper()
	e, start := beginMethod(nil, ch, class, method)
	if fill != nil {
		fill(e)
	}
	c.write(e.endFrame(start))
}

func (c *rawConn) readFrame() (typ uint8, ch uint16, payload []byte, err error) {
	var hdr [7]byte
	if _, err = io.ReadFull(c.r, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	payload = make([]byte, binary.BigEndian.Uint32(hdr[3:])+1)
	if _, err = io.ReadFull(c.r, payload); err != nil {
		return 0, 0, nil, err
	}
	if payload[len(payload)-1] != frameEnd {
		return 0, 0, nil, errors.New("bad frame end from the broker")
	}
	return hdr[0], binary.BigEndian.Uint16(hdr[1:]), payload[:len(payload)-1], nil
}

// expectMethod reads frames, skipping heartbeats, up to the next method and
// checks it is class.method.
func (c *rawConn) expectMethod(class, method uint16) *decoder {
	c.t.Helper()
	for {
		typ, _, payload, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("waiting for %d.%d: %v", class, method, err)
		}
		if typ == frameHeartbeat {
			continue
		}
		d := &decoder{b: payload}
		if gc, gm := d.u16(), d.u16(); typ != frameMethod || gc != class || gm != method {
			c.t.Fatalf("got frame type %d method %d.%d, want %d.%d", typ, gc, gm, class, method)
		}
		return d
	}
}

// expectClose checks that the broker closes the connection with code and
// then the socket.
func (c *rawConn) expectClose(code uint16) {
	c.t.Helper()
	d := c.expectMethod(classConnection, 50)
	if got := d.u16(); got != code {
		c.t.Errorf("close code %d (%s), want %d", got, d.shortstr(), code)
	}
	// The broker may not wait for close-ok (after a syntax error it does
	// not trust the stream), so the write may fail.
	e, start := beginMethod(nil, 0, classConnection, 51)
	_, _ = c.nc.Write(e.endFrame(start))
	c.expectEOF()
}

func (c *rawConn) expectEOF() {
	c.t.Helper()
	for {
		typ, _, _, err := c.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				c.t.Fatalf("want EOF, got %v", err)
			}
			return
		}
		if typ != frameHeartbeat {
			c.t.Fatalf("frame type %d before EOF", typ)
		}
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func (c *rawConn) handshake(heartbeat uint16) {
	c.t.Helper()
	c.write(protocolHeader)
	c.expectMethod(classConnection, 10)
	c.method(0, classConnection, 11, func(e *encoder) {
		e.table(Table{{"product", "raw"}})
		e.shortstr("PLAIN")
		e.longstr("\x00guest\x00guest")
		e.shortstr("en_US")
	})
	c.expectMethod(classConnection, 30)
	c.method(0, classConnection, 31, func(e *encoder) {
		e.u16(0)
		e.u32(131072)
		e.u16(heartbeat)
	})
	c.method(0, classConnection, 40, func(e *encoder) {
		e.shortstr("/")
		e.shortstr("")
		e.bit(false)
	})
	c.expectMethod(classConnection, 41)
}

func (c *rawConn) openChannel(id uint16) {
	c.t.Helper()
	c.method(id, classChannel, 10, func(e *encoder) { e.shortstr("") })
	c.expectMethod(classChannel, 11)
}

func TestUnsupportedProtocolGetsTheOneWeSpeak(t *testing.T) {
	b := startBroker(t)
	c := rawDial(t, b)
	c.write([]byte("AMQP\x00\x01\x00\x00"))
	got, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, protocolHeader) {
		t.Errorf("got %q", got)
	}
}

func TestMalformedFramesCloseTheConnection(t *testing.T) {
	b := startBroker(t, WithFrameMax(8192))
	for name, tc := range map[string]struct {
		send func(c *rawConn)
		code uint16
	}{
		"bad frame end": {func(c *rawConn) {
			c.write([]byte{frameMethod, 0, 1, 0, 0, 0, 1, 0, 0xAB})
		}, codeFrameError},
		"unknown frame type": {func(c *rawConn) {
			c.write([]byte{7, 0, 1, 0, 0, 0, 0, frameEnd})
		}, codeFrameError},
		"frame above frame max": {func(c *rawConn) {
			c.write([]byte{frameBody, 0, 1, 0, 0, 0x40, 0})
		}, codeFrameError},
		"heartbeat on a channel": {func(c *rawConn) {
			c.write([]byte{frameHeartbeat, 0, 1, 0, 0, 0, 0, frameEnd})
		}, codeFrameError},
		"truncated method arguments": {func(c *rawConn) {
			c.method(1, classQueue, 10, func(e *encoder) { e.u16(0); e.u8(200) })
		}, codeSyntaxError},
		"bad field type in a table": {func(c *rawConn) {
			c.method(1, classQueue, 10, func(e *encoder) {
				e.u16(0)
				e.shortstr("q")
				e.u8(0)
				e.u32(4)
				e.b = append(e.b, 1, 'k', '?', 0)
			})
		}, codeSyntaxError},
		"content header without publish": {func(c *rawConn) {
			c.write(appendContent(nil, 1, 8192, []byte{0, 0}, nil))
		}, codeUnexpectedFrame},
		"method in the middle of content": {func(c *rawConn) {
			c.method(1, classBasic, 40, func(e *encoder) { e.u16(0); e.shortstr(""); e.shortstr("q"); e.u8(0) })
			c.method(1, classBasic, 10, func(e *encoder) { e.u32(0); e.u16(1); e.u8(0) })
		}, codeUnexpectedFrame},
		"body larger than announced": {func(c *rawConn) {
			c.method(1, classBasic, 40, func(e *encoder) { e.u16(0); e.shortstr(""); e.shortstr("q"); e.u8(0) })
			e, start := beginFrame(nil, frameHeader, 1)
			e.u16(classBasic)
			e.u16(0)
			e.u64(1)
			e.u16(0)
			c.write(e.endFrame(start))
			c.write([]byte{frameBody, 0, 1, 0, 0, 0, 2, 'a', 'b', frameEnd})
		}, codeUnexpectedFrame},
		"method on an unopened channel": {func(c *rawConn) {
			c.method(9, classBasic, 10, func(e *encoder) { e.u32(0); e.u16(1); e.u8(0) })
		}, codeChannelError},
		"channel opened twice": {func(c *rawConn) {
			c.method(1, classChannel, 10, func(e *encoder) { e.shortstr("") })
		}, codeChannelError},
		"unknown method": {func(c *rawConn) {
			c.method(1, 99, 1, nil)
		}, codeNotImplemented},
		"channel method on channel 0": {func(c *rawConn) {
			c.method(0, classChannel, 10, func(e *encoder) { e.shortstr("") })
		}, codeCommandInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			c := rawDial(t, b)
			c.handshake(0)
			c.openChannel(1)
			tc.send(c)
			c.expectClose(tc.code)
		})
	}
}

func TestHeartbeats(t *testing.T) {
	b := startBroker(t, WithHeartbeat(time.Second))
	c := rawDial(t, b)
	c.handshake(1)
	// The broker fills the silence with heartbeats...
	typ, _, _, err := c.readFrame()
	if err != nil || typ != frameHeartbeat {
		t.Fatalf("got frame type %d, err %v, want a heartbeat", typ, err)
	}
	// ...and, since this client sends none, gives up on it after two
	// intervals.
	c.expectEOF()

	// A client that heartbeats stays connected: its heartbeats are
	// tolerated anywhere, and a method still works afterwards.
	c = rawDial(t, b)
	c.handshake(1)
	c.write(appendHeartbeat(nil))
	c.openChannel(1)
	c.write(appendHeartbeat(nil))
	c.method(1, classChannel, 40, func(e *encoder) { e.u16(200); e.shortstr(""); e.u16(0); e.u16(0) })
	c.expectMethod(classChannel, 41)
}

func TestChannelCloseOkCompletesABrokerInitiatedClose(t *testing.T) {
	b := startBroker(t)
	c := rawDial(t, b)
	c.handshake(0)
	c.openChannel(1)
	c.method(1, classQueue, 10, func(e *encoder) {
		e.u16(0)
		e.shortstr("missing")
		e.u8(1) // passive
		e.table(nil)
	})
	d := c.expectMethod(classChannel, 40)
	if code := d.u16(); code != codeNotFound {
		t.Errorf("code %d", code)
	}
	// Frames sent before the client saw the close are ignored.
	c.method(1, classBasic, 10, func(e *encoder) { e.u32(0); e.u16(1); e.u8(0) })
	c.method(1, classChannel, 41, nil)
	// The channel id is free again.
	c.openChannel(1)
	c.method(0, classConnection, 50, func(e *encoder) { e.u16(200); e.shortstr("bye"); e.u16(0); e.u16(0) })
	c.expectMethod(classConnection, 51)
	c.expectEOF()
}

func FuzzFramesNeverPanic(f *testing.F) {
	b := startBroker(f)
	channelOpen := func() []byte {
		e, start := beginMethod(nil, 1, classChannel, 10)
		e.shortstr("")
		return e.endFrame(start)
	}()
	publish := func() []byte {
		e, start := beginMethod(nil, 1, classBasic, 40)
		e.u16(0)
		e.shortstr("amq.topic")
		e.shortstr("a.b")
		e.u8(1)
		out := e.endFrame(start)
		props := properties{raw: []byte{0, 0}, hStart: 2, hEnd: 2}.withHeaders(Table{{"k", "v"}, {"n", []any{int32(1)}}}).raw
		return appendContent(out, 1, 4096, props, []byte("hello"))
	}()
	f.Add([]byte{0})
	f.Add(append([]byte{1}, channelOpen...))
	f.Add(append(append([]byte{1}, channelOpen...), publish...))
	f.Add(append([]byte{1}, publish...))
	f.Add([]byte{1, frameMethod, 0, 0, 0, 0, 0, 4, 0, 10, 0, 50, frameEnd})
	f.Add([]byte{0, frameMethod, 0, 0, 0, 0, 0, 2, 0, 10, frameEnd})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		c := rawDial(t, b)
		if data[0]&1 == 1 {
			c.handshake(0)
		} else {
			c.write(protocolHeader)
		}
		_, _ = c.nc.Write(data[1:])
		_ = c.nc.CloseWrite()
		// Whatever it got, the broker ends the connection once the input
		// ends, without hanging.
		if _, err := io.Copy(io.Discard, c.r); err != nil && !isReset(err) {
			t.Fatalf("reading until the broker closes: %v", err)
		}
		if n := b.internalErrors.Load(); n != 0 {
			t.Fatalf("%d internal errors", n)
		}
	})
}
