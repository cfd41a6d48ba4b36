package awsattr

import (
	"maps"
	"slices"
	"strings"
)

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
