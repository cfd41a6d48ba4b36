package amqpbroker

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// channel state is guarded by the broker lock.
type channel struct {
	id      uint16
	conn    *conn
	closing bool // we sent channel.close and wait for close-ok
	flow    bool

	confirm bool
	pubSeq  uint64

	prefetchConsumer int // for consumers created from now on
	prefetchGlobal   int // shared by all consumers of the channel

	nextTag   uint64
	unacked   []*delivery // in tag order
	consumers map[string]*consumer

	pending *pendingPublish
}

// pendingPublish is a basic.publish whose content is still arriving.
type pendingPublish struct {
	exchange, routingKey string
	mandatory            bool
	gotHeader            bool
	size                 uint64
	props                properties
	body                 []byte
}

func vhostErrName(kind, name string) string {
	return fmt.Sprintf("%s '%s' in vhost '/'", kind, name)
}

// channelMethod handles a method on a non-zero channel. ch is nil when the
// channel is not open.
func (c *conn) channelMethod(id uint16, ch *channel, payload []byte) *amqpError {
	d := &decoder{b: payload}
	class, method := d.u16(), d.u16()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - short method frame")
	}
	mid := methodID(class, method)
	aerr := c.channelMethodInner(id, ch, mid, d)
	if aerr == nil {
		return nil
	}
	aerr.class, aerr.method = class, method
	if aerr.conn {
		return aerr
	}
	c.b.closeChannel(ch)
	e, start := beginMethod(nil, id, classChannel, 40)
	e.u16(aerr.code)
	e.shortstr(truncate(aerr.text))
	e.u16(class)
	e.u16(method)
	c.send(e.endFrame(start))
	return nil
}

func (c *conn) channelMethodInner(id uint16, ch *channel, mid uint32, d *decoder) *amqpError {
	if mid == channelOpen {
		d.shortstr()
		if d.err != nil {
			return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed channel.open")
		}
		if ch != nil {
			return connErr(codeChannelError, "CHANNEL_ERROR - second 'channel.open' seen")
		}
		c.channels[id] = &channel{id: id, conn: c, flow: true, consumers: make(map[string]*consumer)}
		e, start := beginMethod(nil, id, classChannel, 11)
		e.longstr("")
		c.send(e.endFrame(start))
		return nil
	}
	if ch == nil {
		return connErr(codeChannelError, "CHANNEL_ERROR - expected 'channel.open'")
	}
	if ch.closing {
		// Everything the client sent before it saw our channel.close is
		// dropped, as the spec asks.
		switch mid {
		case channelCloseOk:
			delete(c.channels, id)
		case channelClose:
			e, start := beginMethod(nil, id, classChannel, 41)
			c.send(e.endFrame(start))
			delete(c.channels, id)
		}
		return nil
	}
	if ch.pending != nil {
		return connErr(codeUnexpectedFrame, "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead")
	}
	syntax := func() *amqpError {
		if d.err != nil {
			return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed method arguments")
		}
		return nil
	}
	b := c.b
	switch mid {
	case channelClose:
		d.u16()
		d.shortstr()
		d.u16()
		d.u16()
		if err := syntax(); err != nil {
			return err
		}
		b.closeChannel(ch)
		delete(c.channels, id)
		e, start := beginMethod(nil, id, classChannel, 41)
		c.send(e.endFrame(start))
		return nil
	case channelCloseOk:
		return connErr(codeCommandInvalid, "COMMAND_INVALID - unexpected channel.close-ok")
	case channelFlow:
		active := d.u8()&1 != 0
		if err := syntax(); err != nil {
			return err
		}
		ch.flow = active
		e, start := beginMethod(nil, id, classChannel, 21)
		e.bit(active)
		c.send(e.endFrame(start))
		if active {
			b.dispatchChannel(ch)
		}
		return nil
	case channelFlowOk:
		return nil
	case exchangeDeclare:
		return b.exchangeDeclare(ch, d)
	case exchangeDelete:
		return b.exchangeDelete(ch, d)
	case exchangeBind, exchangeUnbind:
		return connErr(codeNotImplemented, "NOT_IMPLEMENTED - exchange-to-exchange bindings are not supported by this broker")
	case queueDeclare:
		return b.queueDeclare(ch, d)
	case queueBind:
		return b.queueBind(ch, d, true)
	case queueUnbind:
		return b.queueBind(ch, d, false)
	case queuePurge:
		return b.queuePurge(ch, d)
	case queueDelete:
		return b.queueDelete(ch, d)
	case basicQos:
		d.u32() // prefetch size: not enforced, as in RabbitMQ
		count := int(d.u16())
		global := d.u8()&1 != 0
		if err := syntax(); err != nil {
			return err
		}
		if global {
			ch.prefetchGlobal = count
		} else {
			ch.prefetchConsumer = count
		}
		e, start := beginMethod(nil, id, classBasic, 11)
		c.send(e.endFrame(start))
		b.dispatchChannel(ch)
		return nil
	case basicConsume:
		return b.basicConsume(ch, d)
	case basicCancel:
		tag := d.shortstr()
		nowait := d.u8()&1 != 0
		if err := syntax(); err != nil {
			return err
		}
		if !nowait {
			e, start := beginMethod(nil, id, classBasic, 31)
			e.shortstr(tag)
			c.send(e.endFrame(start))
		}
		if cons := ch.consumers[tag]; cons != nil {
			b.removeConsumer(cons)
		}
		return nil
	case basicCancelOk:
		// The client's answer to our cancel notification.
		return nil
	case basicPublish:
		d.u16()
		exName := d.shortstr()
		rk := d.shortstr()
		bits := d.u8()
		if err := syntax(); err != nil {
			return err
		}
		if bits&2 != 0 {
			return connErr(codeNotImplemented, "NOT_IMPLEMENTED - immediate=true")
		}
		x := b.exchanges[exName]
		if x == nil {
			return chErr(codeNotFound, "NOT_FOUND - no %s", vhostErrName("exchange", exName))
		}
		if x.internal {
			return chErr(codeAccessRefused, "ACCESS_REFUSED - cannot publish to internal %s", vhostErrName("exchange", exName))
		}
		ch.pending = &pendingPublish{exchange: exName, routingKey: rk, mandatory: bits&1 != 0}
		return nil
	case basicGet:
		return b.basicGet(ch, d)
	case basicAck:
		tag := d.u64()
		multiple := d.u8()&1 != 0
		if err := syntax(); err != nil {
			return err
		}
		ds, aerr := ch.takeDeliveries(tag, multiple)
		if aerr != nil {
			return aerr
		}
		settle(ds)
		b.redispatch(ch, ds)
		return nil
	case basicReject, basicNack:
		tag := d.u64()
		bits := d.u8()
		if err := syntax(); err != nil {
			return err
		}
		multiple, requeue := false, bits&1 != 0
		if mid == basicNack {
			multiple, requeue = bits&1 != 0, bits&2 != 0
		}
		ds, aerr := ch.takeDeliveries(tag, multiple)
		if aerr != nil {
			return aerr
		}
		settle(ds)
		if requeue {
			b.requeue(ds)
		} else {
			for _, dl := range ds {
				if !dl.q.deleted {
					b.deadLetter(dl.q, dl.qm, "rejected")
				}
			}
		}
		b.redispatch(ch, ds)
		return nil
	case basicRecover, basicRecoverAsync:
		d.u8()
		if err := syntax(); err != nil {
			return err
		}
		// RabbitMQ requeues whatever the requeue flag says.
		ds := ch.unacked
		ch.unacked = nil
		settle(ds)
		if mid == basicRecover {
			e, start := beginMethod(nil, id, classBasic, 111)
			c.send(e.endFrame(start))
		}
		b.requeue(ds)
		b.redispatch(ch, ds)
		return nil
	case confirmSelect:
		nowait := d.u8()&1 != 0
		if err := syntax(); err != nil {
			return err
		}
		ch.confirm = true
		if !nowait {
			e, start := beginMethod(nil, id, classConfirm, 11)
			c.send(e.endFrame(start))
		}
		return nil
	default:
		if mid>>16 == classTx {
			return connErr(codeNotImplemented, "NOT_IMPLEMENTED - transactions are not supported by this broker")
		}
		return connErr(codeNotImplemented, "NOT_IMPLEMENTED - unknown method %d.%d", mid>>16, mid&0xffff)
	}
}

// dispatchChannel gives the queues of ch's consumers a chance to deliver
// after its limits changed.
func (b *Broker) dispatchChannel(ch *channel) {
	for _, cons := range ch.consumers {
		b.dispatch(cons.q)
	}
}

// takeDeliveries removes and returns the deliveries an ack, nack or reject
// of tag covers (tag 0 with multiple: all of them).
func (ch *channel) takeDeliveries(tag uint64, multiple bool) ([]*delivery, *amqpError) {
	i, found := slices.BinarySearchFunc(ch.unacked, tag, func(d *delivery, t uint64) int {
		switch {
		case d.tag < t:
			return -1
		case d.tag > t:
			return 1
		}
		return 0
	})
	switch {
	case multiple && tag == 0:
		ds := ch.unacked
		ch.unacked = nil
		return ds, nil
	case !found:
		return nil, chErr(codePreconditionFailed, "PRECONDITION_FAILED - unknown delivery tag %d", tag)
	case multiple:
		ds := slices.Clone(ch.unacked[:i+1])
		ch.unacked = slices.Delete(ch.unacked, 0, i+1)
		return ds, nil
	default:
		d := ch.unacked[i]
		ch.unacked = slices.Delete(ch.unacked, i, i+1)
		return []*delivery{d}, nil
	}
}

// settle releases the prefetch room of deliveries leaving ch.
func settle(ds []*delivery) {
	for _, d := range ds {
		if d.cons != nil {
			d.cons.unacked--
		}
	}
}

// redispatch lets the queues deliver again after deliveries left ch; it
// comes after any requeueing, so that returned messages go first.
func (b *Broker) redispatch(ch *channel, ds []*delivery) {
	for _, d := range ds {
		if d.cons != nil && !d.q.deleted {
			b.dispatch(d.q)
		}
	}
	if ch.prefetchGlobal > 0 {
		b.dispatchChannel(ch)
	}
}

func (ch *channel) contentHeader(payload []byte) *amqpError {
	if ch.closing {
		return nil
	}
	p := ch.pending
	if p == nil || p.gotHeader {
		return connErr(codeUnexpectedFrame, "UNEXPECTED_FRAME - content header without basic.publish")
	}
	d := &decoder{b: payload}
	class := d.u16()
	d.u16() // weight
	size := d.u64()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - short content header")
	}
	if class != classBasic {
		return connErr(codeUnexpectedFrame, "UNEXPECTED_FRAME - content header for class %d", class)
	}
	props, err := parseProperties(d.b)
	if err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed message properties")
	}
	if size > maxMessageSize {
		ch.pending = nil
		// The body frames that follow are dropped with the closing channel.
		return ch.conn.channelError(ch, codePreconditionFailed,
			fmt.Sprintf("PRECONDITION_FAILED - message size %d is larger than configured max size %d", size, maxMessageSize))
	}
	p.gotHeader, p.size, p.props = true, size, props
	// A copy: the frame buffer holds the rest of the header too.
	p.props.raw = slices.Clone(props.raw)
	p.body = make([]byte, 0, min(size, 1<<20))
	if size == 0 {
		return ch.conn.b.publish(ch)
	}
	return nil
}

func (ch *channel) contentBody(payload []byte) *amqpError {
	if ch.closing {
		return nil
	}
	p := ch.pending
	if p == nil || !p.gotHeader {
		return connErr(codeUnexpectedFrame, "UNEXPECTED_FRAME - content body without content header")
	}
	if uint64(len(p.body))+uint64(len(payload)) > p.size {
		return connErr(codeUnexpectedFrame, "UNEXPECTED_FRAME - content body larger than its header announced")
	}
	p.body = append(p.body, payload...)
	if uint64(len(p.body)) == p.size {
		return ch.conn.b.publish(ch)
	}
	return nil
}

// channelError closes ch with a channel exception outside a method (the
// content frames of a publish).
func (c *conn) channelError(ch *channel, code uint16, text string) *amqpError {
	c.b.closeChannel(ch)
	e, start := beginMethod(nil, ch.id, classChannel, 40)
	e.u16(code)
	e.shortstr(truncate(text))
	e.u16(classBasic)
	e.u16(40)
	c.send(e.endFrame(start))
	return nil
}

// publish routes a complete message; in confirm mode the ack follows any
// basic.return, as in RabbitMQ, so a client sees the return first.
func (b *Broker) publish(ch *channel) *amqpError {
	p := ch.pending
	ch.pending = nil
	x := b.exchanges[p.exchange]
	if x == nil {
		return ch.conn.channelError(ch, codeNotFound, "NOT_FOUND - no "+vhostErrName("exchange", p.exchange))
	}
	m := &message{exchange: p.exchange, routingKey: p.routingKey, props: p.props, body: p.body}
	qs := b.route(x, m)
	if len(qs) == 0 && p.mandatory {
		e, start := beginMethod(nil, ch.id, classBasic, 50)
		e.u16(codeNoRoute)
		e.shortstr("NO_ROUTE")
		e.shortstr(m.exchange)
		e.shortstr(m.routingKey)
		frames := e.endFrame(start)
		ch.conn.send(appendContent(frames, ch.id, ch.conn.frameMax, m.props.raw, m.body))
	}
	if ch.confirm {
		ch.pubSeq++
		e, start := beginMethod(nil, ch.id, classBasic, 80)
		e.u64(ch.pubSeq)
		e.bit(false)
		ch.conn.send(e.endFrame(start))
	}
	for _, q := range qs {
		q.push(&qmsg{m: m})
		b.dispatch(q)
	}
	return nil
}

func (b *Broker) exchangeDeclare(ch *channel, d *decoder) *amqpError {
	d.u16()
	name := d.shortstr()
	kind := d.shortstr()
	bits := d.u8()
	args := d.table()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed exchange.declare")
	}
	passive, durable, autoDelete, internal, nowait := bits&1 != 0, bits&2 != 0, bits&4 != 0, bits&8 != 0, bits&16 != 0
	x := b.exchanges[name]
	switch {
	case passive:
		if x == nil {
			return chErr(codeNotFound, "NOT_FOUND - no %s", vhostErrName("exchange", name))
		}
	case name == "":
		return chErr(codeAccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange")
	case x != nil:
		if aerr := x.equivalent(kind, durable, autoDelete, internal); aerr != nil {
			return aerr
		}
	default:
		switch kind {
		case kindDirect, kindFanout, kindTopic, kindHeaders:
		default:
			return connErr(codeCommandInvalid, "COMMAND_INVALID - unknown exchange type '%s'", kind)
		}
		if strings.HasPrefix(name, "amq.") {
			return chErr(codeAccessRefused, "ACCESS_REFUSED - exchange name '%s' contains reserved prefix 'amq.*'", name)
		}
		b.exchanges[name] = &exchange{name: name, kind: kind, durable: durable, autoDelete: autoDelete, internal: internal, args: args}
	}
	if !nowait {
		e, start := beginMethod(nil, ch.id, classExchange, 11)
		ch.conn.send(e.endFrame(start))
	}
	return nil
}

func (x *exchange) equivalent(kind string, durable, autoDelete, internal bool) *amqpError {
	ineq := func(arg string, got, cur any) *amqpError {
		return chErr(codePreconditionFailed, "PRECONDITION_FAILED - inequivalent arg '%s' for %s: received '%v' but current is '%v'",
			arg, vhostErrName("exchange", x.name), got, cur)
	}
	switch {
	case kind != x.kind:
		return ineq("type", kind, x.kind)
	case durable != x.durable:
		return ineq("durable", durable, x.durable)
	case autoDelete != x.autoDelete:
		return ineq("auto_delete", autoDelete, x.autoDelete)
	case internal != x.internal:
		return ineq("internal", internal, x.internal)
	}
	return nil
}

func (b *Broker) exchangeDelete(ch *channel, d *decoder) *amqpError {
	d.u16()
	name := d.shortstr()
	bits := d.u8()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed exchange.delete")
	}
	ifUnused, nowait := bits&1 != 0, bits&2 != 0
	if name == "" || strings.HasPrefix(name, "amq.") {
		return chErr(codeAccessRefused, "ACCESS_REFUSED - operation not permitted on %s", vhostErrName("exchange", name))
	}
	if x := b.exchanges[name]; x != nil {
		if ifUnused && len(x.bindings) > 0 {
			return chErr(codePreconditionFailed, "PRECONDITION_FAILED - %s in use", vhostErrName("exchange", name))
		}
		delete(b.exchanges, name)
	}
	if !nowait {
		e, start := beginMethod(nil, ch.id, classExchange, 21)
		ch.conn.send(e.endFrame(start))
	}
	return nil
}

// queueFor finds a queue the channel's connection may use.
func (b *Broker) queueFor(ch *channel, name string) (*queue, *amqpError) {
	q := b.queues[name]
	if q == nil {
		return nil, chErr(codeNotFound, "NOT_FOUND - no %s", vhostErrName("queue", name))
	}
	if q.exclusive && q.owner != ch.conn {
		return nil, chErr(codeResourceLocked, "RESOURCE_LOCKED - cannot obtain exclusive access to locked %s. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.", vhostErrName("queue", name))
	}
	return q, nil
}

// Queue arguments compared on redeclaration; RabbitMQ ignores the others.
var equivalenceArgs = []string{
	"x-dead-letter-exchange", "x-dead-letter-routing-key", "x-message-ttl", "x-expires",
	"x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-delivery-limit",
	"x-single-active-consumer",
}

func (b *Broker) queueDeclare(ch *channel, d *decoder) *amqpError {
	d.u16()
	name := d.shortstr()
	bits := d.u8()
	args := d.table()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed queue.declare")
	}
	passive, durable, exclusive, autoDelete, nowait := bits&1 != 0, bits&2 != 0, bits&4 != 0, bits&8 != 0, bits&16 != 0
	var q *queue
	if passive {
		var aerr *amqpError
		if q, aerr = b.queueFor(ch, name); aerr != nil {
			return aerr
		}
	} else {
		if name == "" {
			name = randomName("amq.gen-")
		} else if strings.HasPrefix(name, "amq.") {
			return chErr(codeAccessRefused, "ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'", name)
		}
		if existing := b.queues[name]; existing != nil {
			var aerr *amqpError
			if q, aerr = b.queueFor(ch, name); aerr != nil {
				return aerr
			}
			if aerr := q.equivalent(durable, exclusive, autoDelete, args); aerr != nil {
				return aerr
			}
		} else {
			var aerr *amqpError
			if q, aerr = newQueue(name, durable, exclusive, autoDelete, args); aerr != nil {
				return aerr
			}
			if exclusive {
				q.owner = ch.conn
			}
			b.queues[name] = q
		}
	}
	if !nowait {
		e, start := beginMethod(nil, ch.id, classQueue, 11)
		e.shortstr(q.name)
		e.u32(uint32(len(q.ready)))
		e.u32(uint32(len(q.consumers)))
		ch.conn.send(e.endFrame(start))
	}
	return nil
}

func newQueue(name string, durable, exclusive, autoDelete bool, args Table) (*queue, *amqpError) {
	q := &queue{name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete, args: args, deliveryLimit: -1}
	invalid := func(arg string) *amqpError {
		return chErr(codePreconditionFailed, "PRECONDITION_FAILED - invalid arg '%s' for %s", arg, vhostErrName("queue", name))
	}
	for _, f := range args {
		switch f.Key {
		case "x-dead-letter-exchange":
			s, ok := f.Value.(string)
			if !ok {
				return nil, invalid(f.Key)
			}
			q.dlx, q.hasDLX = s, true
		case "x-dead-letter-routing-key":
			s, ok := f.Value.(string)
			if !ok {
				return nil, invalid(f.Key)
			}
			q.dlrk, q.hasDLRK = s, true
		case "x-queue-type":
			s, ok := f.Value.(string)
			if !ok {
				return nil, invalid(f.Key)
			}
			switch s {
			case "classic":
			case "quorum":
				q.quorum = true
			default:
				return nil, chErr(codePreconditionFailed, "PRECONDITION_FAILED - queue type '%s' is not supported by this broker", s)
			}
		case "x-delivery-limit":
			n, ok := toInt64(f.Value)
			if !ok {
				return nil, invalid(f.Key)
			}
			q.deliveryLimit = n
		}
	}
	if q.hasDLRK && !q.hasDLX {
		return nil, chErr(codePreconditionFailed, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for %s: Key x-dead-letter-exchange should be present", vhostErrName("queue", name))
	}
	if q.quorum {
		if !durable || exclusive || autoDelete {
			return nil, chErr(codePreconditionFailed, "PRECONDITION_FAILED - invalid property for quorum %s: a quorum queue must be durable, not exclusive and not auto-delete", vhostErrName("queue", name))
		}
		if q.deliveryLimit < 0 {
			// RabbitMQ 4's default for quorum queues.
			q.deliveryLimit = 20
		}
	}
	return q, nil
}

func (q *queue) equivalent(durable, exclusive, autoDelete bool, args Table) *amqpError {
	ineq := func(arg string, got, cur any) *amqpError {
		return chErr(codePreconditionFailed, "PRECONDITION_FAILED - inequivalent arg '%s' for %s: received '%v' but current is '%v'",
			arg, vhostErrName("queue", q.name), got, cur)
	}
	switch {
	case durable != q.durable:
		return ineq("durable", durable, q.durable)
	case exclusive != q.exclusive:
		return ineq("exclusive", exclusive, q.exclusive)
	case autoDelete != q.autoDelete:
		return ineq("auto_delete", autoDelete, q.autoDelete)
	}
	for _, key := range equivalenceArgs {
		got, gok := args.Get(key)
		cur, cok := q.args.Get(key)
		if gok != cok || !sameArg(got, cur) {
			return ineq(key, argString(got, gok), argString(cur, cok))
		}
	}
	// A redeclaration may leave the type out; a different one is an error.
	if got, ok := args.Get("x-queue-type"); ok {
		cur := "classic"
		if q.quorum {
			cur = "quorum"
		}
		if got != cur {
			return ineq("x-queue-type", got, cur)
		}
	}
	return nil
}

func argString(v any, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprint(v)
}

func sameArg(a, b any) bool {
	ai, aok := toInt64(a)
	bi, bok := toInt64(b)
	if aok && bok {
		return ai == bi
	}
	return reflect.DeepEqual(a, b)
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int8:
		return int64(v), true
	case uint8:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int64:
		return v, true
	default:
		return 0, false
	}
}

func (b *Broker) queueBind(ch *channel, d *decoder, bind bool) *amqpError {
	d.u16()
	qname := d.shortstr()
	xname := d.shortstr()
	key := d.shortstr()
	nowait := false
	if bind {
		nowait = d.u8()&1 != 0
	}
	args := d.table()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed queue.bind")
	}
	q, aerr := b.queueFor(ch, qname)
	if aerr != nil {
		return aerr
	}
	if xname == "" {
		return chErr(codeAccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange")
	}
	x := b.exchanges[xname]
	if x == nil {
		return chErr(codeNotFound, "NOT_FOUND - no %s", vhostErrName("exchange", xname))
	}
	i := slices.IndexFunc(x.bindings, func(bd *binding) bool {
		return bd.q == q && bd.key == key && reflect.DeepEqual(bd.args, args)
	})
	if bind {
		if i < 0 {
			x.bindings = append(x.bindings, &binding{q: q, key: key, args: args})
		}
		if !nowait {
			e, start := beginMethod(nil, ch.id, classQueue, 21)
			ch.conn.send(e.endFrame(start))
		}
		return nil
	}
	if i >= 0 {
		x.bindings = slices.Delete(x.bindings, i, i+1)
		b.maybeAutoDelete(x)
	}
	e, start := beginMethod(nil, ch.id, classQueue, 51)
	ch.conn.send(e.endFrame(start))
	return nil
}

func (b *Broker) queuePurge(ch *channel, d *decoder) *amqpError {
	d.u16()
	name := d.shortstr()
	nowait := d.u8()&1 != 0
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed queue.purge")
	}
	q, aerr := b.queueFor(ch, name)
	if aerr != nil {
		return aerr
	}
	n := len(q.ready)
	q.ready = nil
	if !nowait {
		e, start := beginMethod(nil, ch.id, classQueue, 31)
		e.u32(uint32(n))
		ch.conn.send(e.endFrame(start))
	}
	return nil
}

func (b *Broker) queueDelete(ch *channel, d *decoder) *amqpError {
	d.u16()
	name := d.shortstr()
	bits := d.u8()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed queue.delete")
	}
	ifUnused, ifEmpty, nowait := bits&1 != 0, bits&2 != 0, bits&4 != 0
	n := 0
	if b.queues[name] != nil {
		q, aerr := b.queueFor(ch, name)
		if aerr != nil {
			return aerr
		}
		if ifUnused && len(q.consumers) > 0 {
			return chErr(codePreconditionFailed, "PRECONDITION_FAILED - %s in use", vhostErrName("queue", name))
		}
		if ifEmpty && len(q.ready) > 0 {
			return chErr(codePreconditionFailed, "PRECONDITION_FAILED - %s not empty", vhostErrName("queue", name))
		}
		n = b.deleteQueue(q)
	}
	if !nowait {
		e, start := beginMethod(nil, ch.id, classQueue, 41)
		e.u32(uint32(n))
		ch.conn.send(e.endFrame(start))
	}
	return nil
}

func (b *Broker) basicConsume(ch *channel, d *decoder) *amqpError {
	d.u16()
	qname := d.shortstr()
	tag := d.shortstr()
	bits := d.u8()
	d.table()
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed basic.consume")
	}
	noAck, exclusive, nowait := bits&2 != 0, bits&4 != 0, bits&8 != 0
	q, aerr := b.queueFor(ch, qname)
	if aerr != nil {
		return aerr
	}
	if tag == "" {
		tag = randomName("amq.ctag-")
	}
	if ch.consumers[tag] != nil {
		return connErr(codeNotAllowed, "NOT_ALLOWED - attempt to reuse consumer tag '%s'", tag)
	}
	if exclusive && len(q.consumers) > 0 || slices.ContainsFunc(q.consumers, func(c *consumer) bool { return c.exclusive }) {
		return chErr(codeAccessRefused, "ACCESS_REFUSED - %s in exclusive use", vhostErrName("queue", qname))
	}
	cons := &consumer{tag: tag, ch: ch, q: q, noAck: noAck, exclusive: exclusive, prefetch: ch.prefetchConsumer}
	ch.consumers[tag] = cons
	q.consumers = append(q.consumers, cons)
	if !nowait {
		e, start := beginMethod(nil, ch.id, classBasic, 21)
		e.shortstr(tag)
		ch.conn.send(e.endFrame(start))
	}
	b.dispatch(q)
	return nil
}

func (b *Broker) basicGet(ch *channel, d *decoder) *amqpError {
	d.u16()
	name := d.shortstr()
	noAck := d.u8()&1 != 0
	if d.err != nil {
		return connErr(codeSyntaxError, "SYNTAX_ERROR - malformed basic.get")
	}
	q, aerr := b.queueFor(ch, name)
	if aerr != nil {
		return aerr
	}
	if len(q.ready) == 0 {
		e, start := beginMethod(nil, ch.id, classBasic, 72)
		e.shortstr("")
		ch.conn.send(e.endFrame(start))
		return nil
	}
	qm := q.pop()
	ch.nextTag++
	tag := ch.nextTag
	if !noAck {
		ch.unacked = append(ch.unacked, &delivery{tag: tag, q: q, qm: qm})
	}
	e, start := beginMethod(nil, ch.id, classBasic, 71)
	e.u64(tag)
	e.bit(qm.redelivered)
	e.shortstr(qm.m.exchange)
	e.shortstr(qm.m.routingKey)
	e.u32(uint32(len(q.ready)))
	frames := e.endFrame(start)
	ch.conn.send(appendContent(frames, ch.id, ch.conn.frameMax, q.deliveryProps(qm).raw, qm.m.body))
	return nil
}
