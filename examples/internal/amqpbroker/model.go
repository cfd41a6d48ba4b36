package amqpbroker

import (
	"reflect"
	"slices"
	"strings"
	"time"
)

const (
	kindDirect  = "direct"
	kindFanout  = "fanout"
	kindTopic   = "topic"
	kindHeaders = "headers"
)

type exchange struct {
	name, kind                    string
	durable, autoDelete, internal bool
	builtin                       bool
	args                          Table
	bindings                      []*binding
}

type binding struct {
	q    *queue
	key  string
	args Table
}

// message is what a publisher sent; it is shared, read-only, by every queue
// it was routed to.
type message struct {
	exchange, routingKey string
	props                properties
	body                 []byte
}

// qmsg is a message in one queue.
type qmsg struct {
	m           *message
	redelivered bool
	// returns counts how often it went back to the queue: a quorum queue's
	// x-delivery-count.
	returns int64
}

type queue struct {
	name                           string
	durable, exclusive, autoDelete bool
	owner                          *conn // of an exclusive queue
	args                           Table

	dlx, dlrk       string
	hasDLX, hasDLRK bool
	quorum          bool
	deliveryLimit   int64 // -1: none

	ready     []*qmsg
	consumers []*consumer
	rr        int
	deleted   bool
	routeMark uint64
}

type consumer struct {
	tag       string
	ch        *channel
	q         *queue
	noAck     bool
	exclusive bool
	prefetch  int
	unacked   int
}

// delivery is a message handed out on a channel and not yet acked.
type delivery struct {
	tag  uint64
	q    *queue
	qm   *qmsg
	cons *consumer // nil for basic.get
}

func (c *consumer) available() bool {
	ch := c.ch
	if ch.closing || !ch.flow || ch.conn.closing {
		return false
	}
	if c.noAck {
		return true
	}
	if c.prefetch > 0 && c.unacked >= c.prefetch {
		return false
	}
	return ch.prefetchGlobal == 0 || len(ch.unacked) < ch.prefetchGlobal
}

// route returns the queues m goes to through x, each once.
func (b *Broker) route(x *exchange, m *message) []*queue {
	if x.name == "" {
		if q := b.queues[m.routingKey]; q != nil {
			return []*queue{q}
		}
		return nil
	}
	b.routeGen++
	gen := b.routeGen
	var out []*queue
	var headers Table
	if x.kind == kindHeaders {
		headers = m.props.headers()
	}
	var keyWords []string
	if x.kind == kindTopic {
		keyWords = topicWords(m.routingKey)
	}
	for _, bd := range x.bindings {
		if bd.q.routeMark == gen {
			continue
		}
		var match bool
		switch x.kind {
		case kindDirect:
			match = bd.key == m.routingKey
		case kindFanout:
			match = true
		case kindTopic:
			match = topicMatch(topicWords(bd.key), keyWords)
		case kindHeaders:
			match = headersMatch(bd.args, headers)
		}
		if match {
			bd.q.routeMark = gen
			out = append(out, bd.q)
		}
	}
	return out
}

// topicWords splits a routing key or pattern into words; the empty key has
// none.
func topicWords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

// topicMatch matches words against a pattern where * is one word and # any
// number, by dynamic programming so a pathological pattern stays linear in
// its size times the key's.
func topicMatch(pattern, key []string) bool {
	// next[j]: pattern[i+1:] matches key[j:].
	next := make([]bool, len(key)+1)
	cur := make([]bool, len(key)+1)
	next[len(key)] = true
	for i := len(pattern) - 1; i >= 0; i-- {
		for j := len(key); j >= 0; j-- {
			switch p := pattern[i]; {
			case p == "#":
				cur[j] = next[j] || (j < len(key) && cur[j+1])
			case j == len(key):
				cur[j] = false
			case p == "*":
				cur[j] = next[j+1]
			default:
				cur[j] = p == key[j] && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// headersMatch implements the headers exchange: x-match all (default) or
// any; the -with-x variants also compare x- keys. A void binding value
// matches any value.
func headersMatch(args, headers Table) bool {
	mode := "all"
	if v, ok := args.Get("x-match"); ok {
		if s, ok := v.(string); ok {
			mode = s
		}
	}
	withX := strings.HasSuffix(mode, "-with-x")
	matchAny := strings.HasPrefix(mode, "any")
	for _, f := range args {
		if f.Key == "x-match" || (!withX && strings.HasPrefix(f.Key, "x-")) {
			continue
		}
		v, ok := headers.Get(f.Key)
		match := ok && (f.Value == nil || reflect.DeepEqual(f.Value, v))
		if matchAny && match {
			return true
		}
		if !matchAny && !match {
			return false
		}
	}
	return !matchAny
}

func (q *queue) push(qm *qmsg) { q.ready = append(q.ready, qm) }

func (q *queue) pop() *qmsg {
	qm := q.ready[0]
	q.ready[0] = nil
	q.ready = q.ready[1:]
	return qm
}

// pushFront puts requeued messages back at the head, in their order.
func (q *queue) pushFront(qms []*qmsg) {
	q.ready = append(slices.Clip(qms), q.ready...)
}

// dispatch hands ready messages to the queue's consumers, round-robin among
// those with room under their prefetch limits.
func (b *Broker) dispatch(q *queue) {
	for len(q.ready) > 0 && len(q.consumers) > 0 {
		n := len(q.consumers)
		var c *consumer
		for i := range n {
			cand := q.consumers[(q.rr+i)%n]
			if cand.available() {
				c = cand
				q.rr = (q.rr + i + 1) % n
				break
			}
		}
		if c == nil {
			return
		}
		b.deliver(c, q.pop())
	}
}

func (b *Broker) deliver(c *consumer, qm *qmsg) {
	ch := c.ch
	ch.nextTag++
	tag := ch.nextTag
	if !c.noAck {
		ch.unacked = append(ch.unacked, &delivery{tag: tag, q: c.q, qm: qm, cons: c})
		c.unacked++
	}
	e, start := beginMethod(nil, ch.id, classBasic, 60)
	e.shortstr(c.tag)
	e.u64(tag)
	e.bit(qm.redelivered)
	e.shortstr(qm.m.exchange)
	e.shortstr(qm.m.routingKey)
	frames := e.endFrame(start)
	frames = appendContent(frames, ch.id, ch.conn.frameMax, c.q.deliveryProps(qm).raw, qm.m.body)
	ch.conn.send(frames)
}

// deliveryProps adds what the queue reports about the message: a quorum
// queue's x-delivery-count once it has been returned.
func (q *queue) deliveryProps(qm *qmsg) properties {
	if !q.quorum || qm.returns == 0 {
		return qm.m.props
	}
	return qm.m.props.withHeaders(qm.m.props.headers().with("x-delivery-count", qm.returns))
}

// requeue returns deliveries to the front of their queues, in delivery
// order, marked redelivered, and dispatches them again.
func (b *Broker) requeue(ds []*delivery) {
	var order []*queue
	byQueue := make(map[*queue][]*qmsg)
	for _, d := range ds {
		if d.q.deleted {
			continue
		}
		d.qm.redelivered = true
		d.qm.returns++
		if d.q.quorum && d.q.deliveryLimit >= 0 && d.qm.returns > d.q.deliveryLimit {
			b.deadLetter(d.q, d.qm, "delivery_limit")
			continue
		}
		if _, ok := byQueue[d.q]; !ok {
			order = append(order, d.q)
		}
		byQueue[d.q] = append(byQueue[d.q], d.qm)
	}
	for _, q := range order {
		q.pushFront(byQueue[q])
		b.dispatch(q)
	}
}

// deadLetter republishes a message from q to its dead-letter exchange with
// an x-death record, as RabbitMQ does; without one (or when the exchange
// does not exist) the message is dropped, as RabbitMQ does.
func (b *Broker) deadLetter(q *queue, qm *qmsg, reason string) {
	if !q.hasDLX {
		return
	}
	x := b.exchanges[q.dlx]
	if x == nil {
		return
	}
	m := qm.m
	rk := m.routingKey
	if q.hasDLRK {
		rk = q.dlrk
	}
	h := xDeath(m.props.headers(), q.name, reason, m.exchange, m.routingKey, time.Now())
	dm := &message{exchange: q.dlx, routingKey: rk, props: m.props.withHeaders(h), body: m.body}
	for _, tq := range b.route(x, dm) {
		tq.push(&qmsg{m: dm})
		b.dispatch(tq)
	}
}

// xDeath records a dead-lettering in h the way RabbitMQ does: one entry
// per (queue, reason) in x-death, most recent first, with a count, plus the
// x-first-death-* and x-last-death-* headers.
func xDeath(h Table, queueName, reason, exchangeName, routingKey string, now time.Time) Table {
	var deaths []any
	if v, ok := h.Get("x-death"); ok {
		if a, ok := v.([]any); ok {
			deaths = a
		}
	}
	count := int64(1)
	rest := make([]any, 0, len(deaths)+1)
	for _, d := range deaths {
		t, ok := d.(Table)
		if ok {
			qv, _ := t.Get("queue")
			rv, _ := t.Get("reason")
			if qv == queueName && rv == reason {
				if n, ok := t.Get("count"); ok {
					if n, ok := n.(int64); ok {
						count = n + 1
					}
				}
				continue
			}
		}
		rest = append(rest, d)
	}
	entry := Table{
		{"count", count},
		{"reason", reason},
		{"queue", queueName},
		{"time", Timestamp(now.Unix())},
		{"exchange", exchangeName},
		{"routing-keys", []any{routingKey}},
	}
	h = h.with("x-death", append([]any{entry}, rest...))
	if _, ok := h.Get("x-first-death-reason"); !ok {
		h = h.with("x-first-death-exchange", exchangeName)
		h = h.with("x-first-death-queue", queueName)
		h = h.with("x-first-death-reason", reason)
	}
	h = h.with("x-last-death-exchange", exchangeName)
	h = h.with("x-last-death-queue", queueName)
	h = h.with("x-last-death-reason", reason)
	return h
}

// deleteQueue removes q with its bindings; its consumers get a basic.cancel
// from the broker (consumer_cancel_notify). It returns how many messages
// were ready.
func (b *Broker) deleteQueue(q *queue) int {
	if q.deleted {
		return 0
	}
	q.deleted = true
	delete(b.queues, q.name)
	for _, c := range q.consumers {
		delete(c.ch.consumers, c.tag)
		if !c.ch.closing && !c.ch.conn.closing {
			e, start := beginMethod(nil, c.ch.id, classBasic, 30)
			e.shortstr(c.tag)
			e.bit(true) // nowait
			c.ch.conn.send(e.endFrame(start))
		}
	}
	q.consumers = nil
	for _, x := range b.exchanges {
		before := len(x.bindings)
		x.bindings = slices.DeleteFunc(x.bindings, func(bd *binding) bool { return bd.q == q })
		if before > 0 && len(x.bindings) == 0 {
			b.maybeAutoDelete(x)
		}
	}
	n := len(q.ready)
	q.ready = nil
	return n
}

func (b *Broker) maybeAutoDelete(x *exchange) {
	if x.autoDelete && !x.builtin && len(x.bindings) == 0 {
		delete(b.exchanges, x.name)
	}
}

// removeConsumer cancels c; an auto-delete queue goes with its last
// consumer.
func (b *Broker) removeConsumer(c *consumer) {
	delete(c.ch.consumers, c.tag)
	q := c.q
	if i := slices.Index(q.consumers, c); i >= 0 {
		q.consumers = slices.Delete(q.consumers, i, i+1)
		if q.rr > i {
			q.rr--
		}
		if len(q.consumers) > 0 {
			q.rr %= len(q.consumers)
		} else {
			q.rr = 0
		}
	}
	if q.autoDelete && len(q.consumers) == 0 {
		b.deleteQueue(q)
	}
}

// closeChannel releases a channel's consumers and returns its unacked
// messages to their queues.
func (b *Broker) closeChannel(ch *channel) {
	ch.closing = true
	ch.pending = nil
	unacked := ch.unacked
	ch.unacked = nil
	b.requeue(unacked)
	for _, c := range ch.consumers {
		b.removeConsumer(c)
	}
	// Messages requeued while the consumers were still registered (but
	// unavailable) go to the other consumers now.
	seen := make(map[*queue]bool)
	for _, d := range unacked {
		if !seen[d.q] && !d.q.deleted {
			seen[d.q] = true
			b.dispatch(d.q)
		}
	}
}
