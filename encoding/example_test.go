package encoding_test

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/patron-go/patron/encoding"
)

// A body goes out and comes back in the content type its header names;
// parameters and letter case do not matter.
func Example() {
	type order struct {
		ID    string `json:"id"`
		Items int    `json:"items"`
	}
	body, err := encoding.Encode(encoding.JSON, order{ID: "42", Items: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(body))

	var got order
	if err := encoding.Decode("Application/JSON; charset=utf-8", body, &got); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", got)
	// Output:
	// {"id":"42","items":3}
	// {ID:42 Items:3}
}

// Protobuf bodies take a proto.Message; the content type's aliases
// (application/protobuf, application/x-protobuf, ...) all mean Protobuf.
func Example_protobuf() {
	body, err := encoding.Encode(encoding.Protobuf, wrapperspb.String("hello"))
	if err != nil {
		fmt.Println(err)
		return
	}
	got := &wrapperspb.StringValue{}
	if err := encoding.Decode("application/protobuf", body, got); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(body), "bytes:", got.GetValue())
	// Output:
	// 7 bytes: hello
}

// Bad input gives errors a transport maps to its answer: 415 for a content
// type it does not speak, 400 for a body that does not decode. Consumers
// do not retry a malformed message (the error is also permanent).
func ExampleDecode_errors() {
	var v map[string]any
	err := encoding.Decode("text/csv", []byte("a,b"), &v)
	fmt.Println(errors.Is(err, encoding.ErrUnsupportedContentType))

	err = encoding.Decode(encoding.JSON, []byte(`{"id":`), &v)
	fmt.Println(errors.Is(err, encoding.ErrMalformed))
	// Output:
	// true
	// true
}

// Negotiate picks the response type from an Accept header: the highest q
// first, then the most specific range, then the server's order of offers.
func ExampleNegotiate() {
	offers := []string{encoding.JSON, encoding.Protobuf}
	for _, accept := range []string{
		"",
		"application/x-protobuf",
		"application/json;q=0.5, application/x-protobuf;q=0.9",
		"*/*;q=0.1, application/json",
		"text/html",
	} {
		ct, ok := encoding.Negotiate(accept, offers...)
		fmt.Printf("%q -> %s %t\n", accept, ct, ok)
	}
	// Output:
	// "" -> application/json true
	// "application/x-protobuf" -> application/x-protobuf true
	// "application/json;q=0.5, application/x-protobuf;q=0.9" -> application/x-protobuf true
	// "*/*;q=0.1, application/json" -> application/json true
	// "text/html" ->  false
}

// Normalize is how every transport reads a Content-Type header: the media
// type alone, lower case, protobuf aliases mapped, empty taken as JSON,
// anything else refused.
func ExampleNormalize() {
	for _, ct := range []string{"", "Application/JSON; charset=utf-8", "application/protobuf", "text/plain"} {
		n, err := encoding.Normalize(ct)
		fmt.Printf("%q -> %q %v\n", ct, n, err)
	}
	// Output:
	// "" -> "application/json" <nil>
	// "Application/JSON; charset=utf-8" -> "application/json" <nil>
	// "application/protobuf" -> "application/x-protobuf" <nil>
	// "text/plain" -> "" encoding: unsupported content type: "text/plain"
}
