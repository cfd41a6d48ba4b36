package amqpheader

// ForeachKey calls handler with each header whose value String can read as
// text, and stops at its first error, which it returns; tables, arrays,
// decimals, timestamps and nil carry no propagation value and are skipped.
// With Set it makes Carrier an OpenTracing TextMapReader and TextMapWriter,
// so that OpenTracing code can Inject into and Extract from AMQP headers
// with any OpenTracing tracer, in the opentracing.TextMap and
// opentracing.HTTPHeaders formats.
func (c Carrier) ForeachKey(handler func(key, val string) error) error {
	for k, v := range c {
		s := String(v)
		if s == "" && !isText(v) {
			continue
		}
		if err := handler(k, s); err != nil {
			return err
		}
	}
	return nil
}

// isText reports whether v is a string value, which String returns as it
// is even when empty.
func isText(v any) bool {
	switch v.(type) {
	case string, []byte:
		return true
	}
	return false
}
