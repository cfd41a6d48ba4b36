package kafkaheader

// ForeachKey calls handler with each header, in order, and stops at its
// first error, which it returns. With Set it makes Carrier an OpenTracing
// TextMapReader and TextMapWriter, so that OpenTracing code can Inject into
// and Extract from record headers with any OpenTracing tracer, in the
// opentracing.TextMap and opentracing.HTTPHeaders formats.
func (c Carrier) ForeachKey(handler func(key, val string) error) error {
	if c.Headers == nil {
		return nil
	}
	for _, h := range *c.Headers {
		if err := handler(h.Key, string(h.Value)); err != nil {
			return err
		}
	}
	return nil
}
