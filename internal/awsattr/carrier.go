package awsattr

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/propagation"
)

// Carrier returns a carrier over the text attributes of a received message
// that reads the propagation fields in either form Merge writes: one
// attribute each, or packed into PackedKey. An attribute of its own wins
// over a packed field of the same name. A malformed packed attribute is
// ignored (the message then starts a new trace, never fails); attrs is not
// modified.
func Carrier(attrs map[string]string) propagation.MapCarrier {
	packed, ok := attrs[PackedKey]
	if !ok {
		return propagation.MapCarrier(attrs)
	}
	var fields map[string]string
	if err := json.Unmarshal([]byte(packed), &fields); err != nil || len(fields) == 0 {
		return propagation.MapCarrier(attrs)
	}
	for k, v := range attrs {
		fields[k] = v
	}
	return fields
}

// Text returns the value of a String or Number attribute (custom types
// such as "String.id" included) and whether it is one: those are the
// attributes that can carry propagation values, as component/sqs reads them.
func Text(dataType, value *string) (string, bool) {
	if dataType == nil || value == nil {
		return "", false
	}
	if strings.HasPrefix(*dataType, "String") || strings.HasPrefix(*dataType, "Number") {
		return *value, true
	}
	return "", false
}

// Get returns the text of attribute key of attrs, or "" when it is absent
// or binary. text reads one attribute of the SDK's type.
func Get[V any](attrs map[string]V, key string, text func(V) (string, bool)) string {
	v, ok := attrs[key]
	if !ok {
		return ""
	}
	s, _ := text(v)
	return s
}

// Keys lists the attribute names of attrs.
func Keys[V any](attrs map[string]V) []string {
	return slices.Collect(maps.Keys(attrs))
}

// ForeachKey calls handler with each text attribute of attrs and stops at
// its first error, which it returns.
func ForeachKey[V any](attrs map[string]V, text func(V) (string, bool), handler func(key, val string) error) error {
	for k, v := range attrs {
		s, ok := text(v)
		if !ok {
			continue
		}
		if err := handler(k, s); err != nil {
			return err
		}
	}
	return nil
}
