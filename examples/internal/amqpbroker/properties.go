package amqpbroker

import (
	"encoding/binary"
)

// properties is a message's content-header property list exactly as the
// publisher sent it (flags first), with the location of the headers table so
// that the broker can rewrite headers (x-death, x-delivery-count) without
// re-encoding anything else.
type properties struct {
	raw []byte
	// hStart and hEnd delimit the headers table (its length prefix
	// included) in raw; when the flag is absent both are where it would go.
	hStart, hEnd int
	hasHeaders   bool
}

// parseProperties validates a property list (section 4.2.6.1) and locates
// its headers.
func parseProperties(raw []byte) (properties, error) {
	d := &decoder{b: raw}
	flags := d.u16()
	if d.err != nil {
		return properties{}, d.err
	}
	if flags&0x3 != 0 {
		// Continuation flags: no 0.9.1 class has that many properties.
		return properties{}, errSyntax
	}
	p := properties{raw: raw}
	pos := func() int { return len(raw) - len(d.b) }
	for bit := 15; bit >= 2; bit-- {
		present := flags&(1<<bit) != 0
		if bit == 13 {
			p.hStart = pos()
		}
		if present {
			switch bit {
			case 13: // headers
				d.table()
				p.hasHeaders = true
			case 12, 11: // delivery-mode, priority
				d.u8()
			case 6: // timestamp
				d.u64()
			default: // short strings
				d.shortstr()
			}
		}
		if bit == 13 {
			p.hEnd = pos()
		}
		if d.err != nil {
			return properties{}, d.err
		}
	}
	if len(d.b) != 0 {
		return properties{}, errSyntax
	}
	return p, nil
}

// headers decodes the headers table (empty when absent).
func (p properties) headers() Table {
	if !p.hasHeaders {
		return Table{}
	}
	d := &decoder{b: p.raw[p.hStart:p.hEnd]}
	t := d.table()
	if d.err != nil {
		// parseProperties validated it.
		return Table{}
	}
	return t
}

// withHeaders returns a copy of p whose headers are h.
func (p properties) withHeaders(h Table) properties {
	e := &encoder{b: make([]byte, 0, len(p.raw)+64)}
	e.table(h)
	tbl := e.b
	out := make([]byte, 0, len(p.raw)-(p.hEnd-p.hStart)+len(tbl))
	out = append(out, p.raw[:p.hStart]...)
	out = append(out, tbl...)
	out = append(out, p.raw[p.hEnd:]...)
	binary.BigEndian.PutUint16(out, binary.BigEndian.Uint16(out)|propertyFlagHeaders)
	return properties{raw: out, hStart: p.hStart, hEnd: p.hStart + len(tbl), hasHeaders: true}
}
