package amqpbroker

import (
	"encoding/binary"
	"errors"
	"math"
)

// Frame types and the frame-end octet of AMQP 0.9.1 (section 4.2.3).
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
	frameMinSize   = 4096
	// frameOverhead is the type, channel and size before a payload and the
	// frame-end octet after it.
	frameOverhead = 8
)

// Reply codes (AMQP 0.9.1 section 1.9 and RabbitMQ's use of them).
const (
	codeNoRoute            = 312
	codeConnectionForced   = 320
	codeAccessRefused      = 403
	codeNotFound           = 404
	codeResourceLocked     = 405
	codePreconditionFailed = 406
	codeFrameError         = 501
	codeSyntaxError        = 502
	codeCommandInvalid     = 503
	codeChannelError       = 504
	codeUnexpectedFrame    = 505
	codeNotAllowed         = 530
	codeNotImplemented     = 540
)

// Limits on decoded field tables, the same as amqp091-go's, so that a small
// frame cannot make the broker recurse deeply or allocate without bound.
const (
	maxFieldDepth        = 32
	maxContainerElements = 8192
	replyTextMaxLen      = 255
	propertyFlagHeaders  = 0x2000
)

var errSyntax = errors.New("malformed field")

// decoder reads AMQP primitive types from a frame payload; the first short
// read sets err and makes every later read return zero values, so a method
// is decoded with straight-line code and checked once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errSyntax
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) shortstr() string {
	return string(d.take(int(d.u8())))
}

func (d *decoder) longstrBytes() []byte {
	n := d.u32()
	if n > math.MaxInt32 {
		d.err = errSyntax
		return nil
	}
	return d.take(int(n))
}

func (d *decoder) longstr() string { return string(d.longstrBytes()) }

func (d *decoder) table() Table {
	b := d.longstrBytes()
	if d.err != nil {
		return nil
	}
	t, err := decodeTable(b, 0)
	if err != nil {
		d.err = err
	}
	return t
}

// Table is an ordered AMQP field table. Keeping the order (and the exact
// type of every value) lets headers pass through the broker unchanged.
type Table []Field

// Field is one entry of a Table.
type Field struct {
	Key   string
	Value any
}

// Get returns the value of key and whether it is present.
func (t Table) Get(key string) (any, bool) {
	for _, f := range t {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// with returns a copy of t with key set to v (replaced in place, or
// appended).
func (t Table) with(key string, v any) Table {
	out := make(Table, 0, len(t)+1)
	found := false
	for _, f := range t {
		if f.Key == key {
			if found {
				continue
			}
			f.Value, found = v, true
		}
		out = append(out, f)
	}
	if !found {
		out = append(out, Field{Key: key, Value: v})
	}
	return out
}

// Decimal is the AMQP decimal-value type.
type Decimal struct {
	Scale uint8
	Value int32
}

// Timestamp is the AMQP timestamp type: seconds since the Unix epoch.
type Timestamp uint64

// Value types as decoded, one Go type per AMQP type tag so that encoding a
// decoded table gives back the same bytes:
//
//	't' bool  'b' int8  'B' uint8  's' int16  'u' uint16  'I' int32
//	'i' uint32  'l' int64  'f' float32  'd' float64  'D' Decimal
//	'S' string  'x' []byte  'T' Timestamp  'F' Table  'A' []any  'V' nil
func decodeTable(b []byte, depth int) (Table, error) {
	if depth > maxFieldDepth {
		return nil, errSyntax
	}
	d := &decoder{b: b}
	var t Table
	for len(d.b) > 0 {
		key := d.shortstr()
		v := decodeField(d, depth)
		if d.err != nil {
			return nil, d.err
		}
		if len(t) >= maxContainerElements {
			return nil, errSyntax
		}
		t = append(t, Field{Key: key, Value: v})
	}
	if t == nil {
		t = Table{}
	}
	return t, nil
}

func decodeArray(b []byte, depth int) ([]any, error) {
	if depth > maxFieldDepth {
		return nil, errSyntax
	}
	d := &decoder{b: b}
	a := []any{}
	for len(d.b) > 0 {
		v := decodeField(d, depth)
		if d.err != nil {
			return nil, d.err
		}
		if len(a) >= maxContainerElements {
			return nil, errSyntax
		}
		a = append(a, v)
	}
	return a, nil
}

func decodeField(d *decoder, depth int) any {
	switch d.u8() {
	case 't':
		return d.u8() != 0
	case 'b':
		return int8(d.u8())
	case 'B':
		return d.u8()
	case 's':
		return int16(d.u16())
	case 'u':
		return d.u16()
	case 'I':
		return int32(d.u32())
	case 'i':
		return d.u32()
	case 'l':
		return int64(d.u64())
	case 'f':
		return math.Float32frombits(d.u32())
	case 'd':
		return math.Float64frombits(d.u64())
	case 'D':
		return Decimal{Scale: d.u8(), Value: int32(d.u32())}
	case 'S':
		return d.longstr()
	case 'x':
		return append([]byte{}, d.longstrBytes()...)
	case 'T':
		return Timestamp(d.u64())
	case 'F':
		b := d.longstrBytes()
		if d.err != nil {
			return nil
		}
		t, err := decodeTable(b, depth+1)
		if err != nil {
			d.err = err
		}
		return t
	case 'A':
		b := d.longstrBytes()
		if d.err != nil {
			return nil
		}
		a, err := decodeArray(b, depth+1)
		if err != nil {
			d.err = err
		}
		return a
	case 'V':
		return nil
	default:
		if d.err == nil {
			d.err = errSyntax
		}
		return nil
	}
}

// encoder appends AMQP primitive types to a buffer.
type encoder struct {
	b    []byte
	bits int // number of bits packed into the last octet, 0 when none
}

func (e *encoder) u8(v uint8) { e.bits = 0; e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) {
	e.bits = 0
	e.b = binary.BigEndian.AppendUint16(e.b, v)
}
func (e *encoder) u32(v uint32) {
	e.bits = 0
	e.b = binary.BigEndian.AppendUint32(e.b, v)
}
func (e *encoder) u64(v uint64) {
	e.bits = 0
	e.b = binary.BigEndian.AppendUint64(e.b, v)
}

// bit packs consecutive bit arguments into octets, lowest bit first.
func (e *encoder) bit(v bool) {
	if e.bits == 0 || e.bits == 8 {
		e.b = append(e.b, 0)
		e.bits = 0
	}
	if v {
		e.b[len(e.b)-1] |= 1 << e.bits
	}
	e.bits++
}

func (e *encoder) shortstr(s string) {
	if len(s) > 255 {
		s = s[:255]
	}
	e.u8(uint8(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) longstr(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
}

// table writes t; its length is patched in after the entries are written.
func (e *encoder) table(t Table) {
	e.u32(0)
	start := len(e.b)
	for _, f := range t {
		e.shortstr(f.Key)
		e.field(f.Value)
	}
	binary.BigEndian.PutUint32(e.b[start-4:start], uint32(len(e.b)-start))
	e.bits = 0
}

func (e *encoder) field(v any) {
	switch v := v.(type) {
	case bool:
		e.u8('t')
		if v {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case int8:
		e.u8('b')
		e.u8(uint8(v))
	case uint8:
		e.u8('B')
		e.u8(v)
	case int16:
		e.u8('s')
		e.u16(uint16(v))
	case uint16:
		e.u8('u')
		e.u16(v)
	case int32:
		e.u8('I')
		e.u32(uint32(v))
	case uint32:
		e.u8('i')
		e.u32(v)
	case int64:
		e.u8('l')
		e.u64(uint64(v))
	case int:
		e.u8('l')
		e.u64(uint64(v))
	case float32:
		e.u8('f')
		e.u32(math.Float32bits(v))
	case float64:
		e.u8('d')
		e.u64(math.Float64bits(v))
	case Decimal:
		e.u8('D')
		e.u8(v.Scale)
		e.u32(uint32(v.Value))
	case string:
		e.u8('S')
		e.longstr(v)
	case []byte:
		e.u8('x')
		e.u32(uint32(len(v)))
		e.b = append(e.b, v...)
	case Timestamp:
		e.u8('T')
		e.u64(uint64(v))
	case Table:
		e.u8('F')
		e.table(v)
	case []any:
		e.u8('A')
		e.u32(0)
		start := len(e.b)
		for _, x := range v {
			e.field(x)
		}
		binary.BigEndian.PutUint32(e.b[start-4:start], uint32(len(e.b)-start))
	default:
		// Only the broker's own values reach here, all of the types above;
		// void keeps the table well-formed whatever happens.
		e.u8('V')
	}
	e.bits = 0
}
