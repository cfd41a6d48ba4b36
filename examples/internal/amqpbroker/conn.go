package amqpbroker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

var protocolHeader = []byte("AMQP\x00\x00\x09\x01")

const (
	handshakeTimeout = 10 * time.Second
	// closeTimeout bounds waiting for a peer's close-ok and for flushing the
	// last frames to a peer that does not read.
	closeTimeout = 3 * time.Second
)

// amqpError is a failed method: a channel exception closes the channel, a
// connection exception the connection.
type amqpError struct {
	code          uint16
	text          string
	class, method uint16
	conn          bool
}

func (e *amqpError) Error() string { return fmt.Sprintf("%d %s", e.code, e.text) }

func chErr(code uint16, format string, args ...any) *amqpError {
	return &amqpError{code: code, text: fmt.Sprintf(format, args...)}
}

func connErr(code uint16, format string, args ...any) *amqpError {
	return &amqpError{code: code, text: fmt.Sprintf(format, args...), conn: true}
}

// outbox holds encoded frames for the connection's writer goroutine, so
// that broker state changes never wait on a socket.
type outbox struct {
	mu      sync.Mutex
	buf     []byte
	closing bool // close the socket once buf is written
	wake    chan struct{}
}

func (o *outbox) push(frames []byte) {
	o.mu.Lock()
	o.buf = append(o.buf, frames...)
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) closeAfter() {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take swaps the pending frames for spare (emptied) and reports whether the
// socket is to be closed after them.
func (o *outbox) take(spare []byte) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.buf
	o.buf = spare[:0]
	return b, o.closing
}

type conn struct {
	b  *Broker
	nc net.Conn
	r  *bufio.Reader

	out        outbox
	done       chan struct{} // closed when the reader ends; stops the writer
	doneOnce   sync.Once
	writerDone chan struct{}
	writerOn   bool // guarded by b.mu

	// The client's connection_name property; set in the handshake.
	name string

	// Negotiated in tune-ok; read-only afterwards.
	frameMax   uint32
	channelMax uint16
	heartbeat  time.Duration

	// Guarded by b.mu.
	channels map[uint16]*channel
	closing  bool // no more deliveries; the connection is going away
}

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{
		b:          b,
		nc:         nc,
		r:          bufio.NewReaderSize(nc, 64<<10),
		out:        outbox{wake: make(chan struct{}, 1)},
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		frameMax:   b.cfg.frameMax,
		channels:   make(map[uint16]*channel),
	}
}

// send queues frames for writing; it never blocks on the network.
func (c *conn) send(frames []byte) { c.out.push(frames) }

func (c *conn) serve() {
	defer c.b.wg.Done()
	defer c.teardown()
	defer func() {
		if r := recover(); r != nil {
			c.b.internalErrors.Add(1)
			c.b.cfg.logger.Error("amqpbroker: internal error, closing the connection",
				slog.Any("panic", r), slog.String("remote", c.nc.RemoteAddr().String()))
		}
	}()
	if err := c.handshake(); err != nil {
		c.b.cfg.logger.Debug("amqpbroker: handshake failed", slog.Any("error", err))
		return
	}
	c.loop()
}

// teardown releases the connection's resources and state: its channels'
// unacked messages go back to their queues, its exclusive queues go away.
func (c *conn) teardown() {
	c.doneOnce.Do(func() { close(c.done) })
	_ = c.nc.Close()
	c.b.mu.Lock()
	writerOn := c.writerOn
	c.closing = true
	for _, ch := range c.channels {
		c.b.closeChannel(ch)
	}
	clear(c.channels)
	for _, q := range c.b.queues {
		if q.owner == c {
			c.b.deleteQueue(q)
		}
	}
	delete(c.b.conns, c)
	c.b.mu.Unlock()
	if writerOn {
		<-c.writerDone
	}
}

// forceClose ends a connection from the broker's side: tell the client,
// then close the socket.
func (c *conn) forceClose(reason string) {
	c.b.mu.Lock()
	writerOn := c.writerOn
	c.closing = true
	c.b.mu.Unlock()
	if !writerOn {
		_ = c.nc.Close()
		return
	}
	e, start := beginMethod(nil, 0, classConnection, 50)
	e.u16(codeConnectionForced)
	e.shortstr(truncate("CONNECTION_FORCED - " + reason))
	e.u16(0)
	e.u16(0)
	c.send(e.endFrame(start))
	c.out.closeAfter()
	deadline := time.Now().Add(closeTimeout)
	_ = c.nc.SetWriteDeadline(deadline)
	_ = c.nc.SetReadDeadline(deadline)
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	var tick <-chan time.Time
	if c.heartbeat > 0 {
		t := time.NewTicker(c.heartbeat / 2)
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	var spare []byte
	for {
		select {
		case <-c.done:
			return
		case <-tick:
			// Heartbeats fill idle periods only, as the spec asks.
			if time.Since(last) < c.heartbeat/2 {
				continue
			}
			if _, err := c.nc.Write(appendHeartbeat(nil)); err != nil {
				_ = c.nc.Close()
				return
			}
			last = time.Now()
			continue
		case <-c.out.wake:
		}
		buf, closing := c.out.take(spare)
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				_ = c.nc.Close()
				return
			}
			last = time.Now()
		}
		spare = buf
		if closing {
			_ = c.nc.Close()
			return
		}
	}
}

// frame is one decoded frame; payload aliases a fresh buffer.
type frame struct {
	typ     uint8
	channel uint16
	payload []byte
}

var errFrame = errors.New("malformed frame")

func (c *conn) readFrame() (frame, error) {
	var hdr [7]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return frame{}, err
	}
	f := frame{typ: hdr[0], channel: binary.BigEndian.Uint16(hdr[1:3])}
	size := binary.BigEndian.Uint32(hdr[3:7])
	if uint64(size)+frameOverhead > uint64(c.frameMax) {
		return frame{}, fmt.Errorf("%w: frame of %d bytes exceeds frame max %d", errFrame, size, c.frameMax)
	}
	buf := make([]byte, int(size)+1)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return frame{}, err
	}
	if buf[size] != frameEnd {
		return frame{}, fmt.Errorf("%w: bad frame end", errFrame)
	}
	f.payload = buf[:size]
	switch f.typ {
	case frameMethod, frameHeader, frameBody:
	case frameHeartbeat:
		if f.channel != 0 || size != 0 {
			return frame{}, fmt.Errorf("%w: heartbeat on channel %d with %d bytes", errFrame, f.channel, size)
		}
	default:
		return frame{}, fmt.Errorf("%w: unknown frame type %d", errFrame, f.typ)
	}
	return f, nil
}

// readMethod reads frames up to the next method on channel 0, skipping
// heartbeats, for the handshake.
func (c *conn) readMethod(want uint32) (*decoder, error) {
	for {
		f, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if f.typ == frameHeartbeat {
			continue
		}
		d := &decoder{b: f.payload}
		id := methodID(d.u16(), d.u16())
		if f.typ != frameMethod || f.channel != 0 || d.err != nil || id != want {
			return nil, fmt.Errorf("unexpected frame during handshake (type %d, channel %d, method %#x)", f.typ, f.channel, id)
		}
		return d, nil
	}
}

func (c *conn) writeDirect(frames []byte) error {
	_, err := c.nc.Write(frames)
	return err
}

func (c *conn) handshake() error {
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	var hdr [8]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return fmt.Errorf("reading protocol header: %w", err)
	}
	if !bytes.Equal(hdr[:], protocolHeader) {
		// The spec's answer to an unsupported protocol: the one we speak.
		_ = c.writeDirect(protocolHeader)
		return fmt.Errorf("unsupported protocol header %q", hdr[:])
	}

	e, start := beginMethod(nil, 0, classConnection, 10)
	e.u8(0)
	e.u8(9)
	e.table(Table{
		{"product", "Patron amqpbroker"},
		{"version", "0.9.1"},
		{"platform", "Go"},
		{"information", "in-process AMQP 0.9.1 broker for Patron's demo and tests"},
		{"capabilities", Table{
			{"publisher_confirms", true},
			{"exchange_exchange_bindings", false},
			{"basic.nack", true},
			{"consumer_cancel_notify", true},
			{"connection.blocked", false},
			{"consumer_priorities", false},
			{"authentication_failure_close", true},
			{"per_consumer_qos", true},
			{"direct_reply_to", false},
		}},
	})
	e.longstr("PLAIN AMQPLAIN")
	e.longstr("en_US")
	if err := c.writeDirect(e.endFrame(start)); err != nil {
		return err
	}

	d, err := c.readMethod(connectionStartOk)
	if err != nil {
		return err
	}
	if name, ok := d.table().Get("connection_name"); ok {
		c.name, _ = name.(string)
	}
	mechanism := d.shortstr()
	response := d.longstrBytes()
	d.shortstr() // locale
	if d.err != nil {
		return c.handshakeFail(codeSyntaxError, "SYNTAX_ERROR - malformed connection.start-ok")
	}
	user, pass, ok := credentials(mechanism, response)
	if !ok || user != c.b.cfg.user || pass != c.b.cfg.pass {
		return c.handshakeFail(codeAccessRefused,
			fmt.Sprintf("ACCESS_REFUSED - Login was refused using authentication mechanism %s.", mechanism))
	}

	e, start = beginMethod(nil, 0, classConnection, 30)
	e.u16(c.b.cfg.channelMax)
	e.u32(c.b.cfg.frameMax)
	e.u16(uint16(c.b.cfg.heartbeat / time.Second))
	if err := c.writeDirect(e.endFrame(start)); err != nil {
		return err
	}
	d, err = c.readMethod(connectionTuneOk)
	if err != nil {
		return err
	}
	chMax, frMax, hb := d.u16(), d.u32(), d.u16()
	if d.err != nil {
		return c.handshakeFail(codeSyntaxError, "SYNTAX_ERROR - malformed connection.tune-ok")
	}
	c.channelMax = c.b.cfg.channelMax
	if chMax != 0 && chMax < c.channelMax {
		c.channelMax = chMax
	}
	if frMax != 0 && frMax < frameMinSize {
		return c.handshakeFail(codeNotAllowed, fmt.Sprintf("NOT_ALLOWED - frame_max=%d < %d min size", frMax, frameMinSize))
	}
	if frMax != 0 && frMax < c.frameMax {
		c.frameMax = frMax
	}
	c.heartbeat = time.Duration(hb) * time.Second

	d, err = c.readMethod(connectionOpen)
	if err != nil {
		return err
	}
	vhost := d.shortstr()
	if d.err != nil {
		return c.handshakeFail(codeSyntaxError, "SYNTAX_ERROR - malformed connection.open")
	}
	if vhost != "/" {
		return c.handshakeFail(codeNotAllowed, fmt.Sprintf("NOT_ALLOWED - vhost %s not found", vhost))
	}
	_ = c.nc.SetDeadline(time.Time{})

	// The writer starts before open-ok goes out, through it: once the client
	// sees open-ok (and amqp.Dial returns), a forceClose always finds the
	// writer on and sends connection.close after open-ok, instead of cutting
	// the socket, which the client would report as a frame error (501).
	c.b.mu.Lock()
	if c.closing {
		c.b.mu.Unlock()
		return errors.New("broker closing")
	}
	c.writerOn = true
	go c.writeLoop()
	c.b.mu.Unlock()
	e, start = beginMethod(nil, 0, classConnection, 41)
	e.shortstr("")
	c.send(e.endFrame(start))
	return nil
}

// handshakeFail tells the client why, as RabbitMQ does (its clients report
// the reply text), and ends the connection without waiting for close-ok.
func (c *conn) handshakeFail(code uint16, text string) error {
	e, start := beginMethod(nil, 0, classConnection, 50)
	e.u16(code)
	e.shortstr(text)
	e.u16(0)
	e.u16(0)
	_ = c.writeDirect(e.endFrame(start))
	return errors.New(text)
}

// credentials extracts the user and password of a PLAIN or AMQPLAIN
// response.
func credentials(mechanism string, response []byte) (user, pass string, ok bool) {
	switch mechanism {
	case "PLAIN":
		// [authzid] NUL authcid NUL passwd
		parts := strings.Split(string(response), "\x00")
		if len(parts) != 3 {
			return "", "", false
		}
		return parts[1], parts[2], true
	case "AMQPLAIN":
		t, err := decodeTable(response, 0)
		if err != nil {
			return "", "", false
		}
		u, _ := t.Get("LOGIN")
		p, _ := t.Get("PASSWORD")
		us, ok1 := u.(string)
		ps, ok2 := p.(string)
		return us, ps, ok1 && ok2
	default:
		return "", "", false
	}
}

// loop reads and handles frames until the connection ends.
func (c *conn) loop() {
	for {
		if c.heartbeat > 0 {
			// Two missed heartbeats, as RabbitMQ, mean the peer is gone.
			_ = c.nc.SetReadDeadline(time.Now().Add(2 * c.heartbeat))
		}
		f, err := c.readFrame()
		if err != nil {
			if errors.Is(err, errFrame) {
				c.failConn(connErr(codeFrameError, "FRAME_ERROR - %v", err), false)
			}
			return
		}
		aerr, closed := c.handleFrame(f)
		if closed {
			// Let the writer flush close-ok before teardown stops it.
			<-c.writerDone
			return
		}
		if aerr != nil {
			// Syntax errors leave the stream in an unknown state: do not
			// wait for a close-ok that may never parse.
			c.failConn(aerr, aerr.code != codeSyntaxError)
			return
		}
	}
}

// handleFrame handles one frame under the broker lock. closed reports that
// the connection ended gracefully (the client closed it).
func (c *conn) handleFrame(f frame) (aerr *amqpError, closed bool) {
	if f.typ == frameHeartbeat {
		return nil, false
	}
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if f.channel == 0 {
		if f.typ != frameMethod {
			return connErr(codeUnexpectedFrame, "UNEXPECTED_FRAME - content frame on channel 0"), false
		}
		return c.connectionMethod(f.payload)
	}
	if f.channel > c.channelMax {
		return connErr(codeChannelError, "CHANNEL_ERROR - channel %d above channel max %d", f.channel, c.channelMax), false
	}
	ch := c.channels[f.channel]
	switch f.typ {
	case frameMethod:
		return c.channelMethod(f.channel, ch, f.payload), false
	case frameHeader:
		if ch == nil {
			return connErr(codeChannelError, "CHANNEL_ERROR - content header on closed channel %d", f.channel), false
		}
		return ch.contentHeader(f.payload), false
	default:
		if ch == nil {
			return connErr(codeChannelError, "CHANNEL_ERROR - content body on closed channel %d", f.channel), false
		}
		return ch.contentBody(f.payload), false
	}
}

func (c *conn) connectionMethod(payload []byte) (*amqpError, bool) {
	d := &decoder{b: payload}
	class, method := d.u16(), d.u16()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - short method frame"), false
	}
	switch methodID(class, method) {
	case connectionClose:
		e, start := beginMethod(nil, 0, classConnection, 51)
		c.send(e.endFrame(start))
		c.closing = true
		c.out.closeAfter()
		// The writer flushes close-ok and closes the socket; teardown
		// waits for it.
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
		return nil, true
	case connectionCloseOk:
		// Only after our close, which ends the loop before reading more.
		return connErr(codeCommandInvalid, "COMMAND_INVALID - unexpected connection.close-ok"), false
	case connectionBlocked, connectionUnblocked:
		return nil, false
	case connectionUpdSecret:
		d.longstr()
		d.shortstr()
		if d.err != nil {
			return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed connection.update-secret"), false
		}
		e, start := beginMethod(nil, 0, classConnection, 71)
		c.send(e.endFrame(start))
		return nil, false
	default:
		if class != classConnection {
			return &amqpError{code: codeCommandInvalid, text: "COMMAND_INVALID - only connection methods on channel 0",
				class: class, method: method, conn: true}, false
		}
		return &amqpError{code: codeCommandInvalid, text: "COMMAND_INVALID - unexpected connection method",
			class: class, method: method, conn: true}, false
	}
}

// failConn sends connection.close for err and ends the connection, after
// the client's close-ok when waitCloseOk (bounded by closeTimeout).
func (c *conn) failConn(err *amqpError, waitCloseOk bool) {
	c.b.cfg.logger.Debug("amqpbroker: closing connection", slog.Int("code", int(err.code)), slog.String("reason", err.text))
	c.b.mu.Lock()
	c.closing = true
	// Unacked messages go back now, not when the client gets round to
	// close-ok.
	for _, ch := range c.channels {
		c.b.closeChannel(ch)
	}
	clear(c.channels)
	c.b.mu.Unlock()
	e, start := beginMethod(nil, 0, classConnection, 50)
	e.u16(err.code)
	e.shortstr(truncate(err.text))
	e.u16(err.class)
	e.u16(err.method)
	c.send(e.endFrame(start))
	deadline := time.Now().Add(closeTimeout)
	_ = c.nc.SetDeadline(deadline)
	if waitCloseOk {
		for {
			f, rerr := c.readFrame()
			if rerr != nil {
				break
			}
			if f.typ == frameMethod && f.channel == 0 && len(f.payload) >= 4 &&
				methodID(binary.BigEndian.Uint16(f.payload), binary.BigEndian.Uint16(f.payload[2:])) == connectionCloseOk {
				break
			}
		}
	}
	c.out.closeAfter()
	<-c.writerDone
}

func truncate(s string) string {
	if len(s) > replyTextMaxLen {
		return s[:replyTextMaxLen]
	}
	return s
}
