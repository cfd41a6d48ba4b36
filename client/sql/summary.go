package sql

import "strings"

// statement is what the spans and metrics say about one query: the
// operation (first keyword, upper-cased) and the table it acts on when the
// query names exactly one in the usual place.
type statement struct {
	operation  string
	collection string
}

// summary is the semconv db.query.summary and the span name:
// "SELECT users", or "SELECT" when no single table is found.
func (s statement) summary() string {
	if s.collection == "" {
		return s.operation
	}
	return s.operation + " " + s.collection
}

// parseStatement lexes query once for its operation and target table. It
// does not parse SQL: it reads the first keyword and the name after the
// clause that introduces the target (FROM, INTO, UPDATE, TABLE), which covers
// the statements applications send most, and says nothing otherwise.
func parseStatement(query string, d dialect) statement {
	lx := lexer{src: query, d: d}
	var st statement
	depth, opDepth := 0, 0
	want := "" // the keyword after which the target name follows
	for {
		tok := lx.next()
		if tok.kind == tokEOF {
			return st
		}
		text := query[tok.start:tok.end]
		switch tok.kind {
		case tokSpace, tokComment:
			continue
		case tokPunct:
			switch text {
			case "(":
				depth++
			case ")":
				depth--
			case ";":
				// A second statement: the summary would be misleading.
				if st.operation != "" {
					return statement{operation: st.operation}
				}
			}
			continue
		}
		if st.operation == "" {
			if tok.kind != tokIdent {
				return st
			}
			st.operation = strings.ToUpper(text)
			opDepth = depth
			switch st.operation {
			case "SELECT", "DELETE":
				want = "FROM"
			case "INSERT", "REPLACE":
				want = "INTO"
			case "UPDATE":
				want = "UPDATE"
			case "CREATE", "DROP", "ALTER", "TRUNCATE":
				want = "TABLE"
				if st.operation == "TRUNCATE" {
					want = "TRUNCATE"
				}
			default:
				return st
			}
			if want == st.operation {
				st.collection = lx.name(query)
				return st
			}
			continue
		}
		if depth == opDepth && tok.kind == tokIdent && strings.EqualFold(text, want) {
			st.collection = lx.name(query)
			return st
		}
	}
}

// name reads a possibly qualified table name (schema.table) at the lexer's
// position, skipping IF [NOT] EXISTS, ONLY and TABLE; it returns "" when
// the next thing is not a name (a subquery, a function).
func (l *lexer) name(query string) string {
	var parts []string
	for {
		tok := l.next()
		text := query[tok.start:tok.end]
		switch tok.kind {
		case tokSpace, tokComment:
			continue
		case tokIdent:
			if len(parts) == 0 {
				switch strings.ToUpper(text) {
				case "IF", "NOT", "EXISTS", "ONLY", "TABLE", "LOW_PRIORITY", "IGNORE", "QUICK":
					continue
				}
			}
			parts = append(parts, text)
		case tokQuotedIdent:
			parts = append(parts, text)
		default:
			return ""
		}
		// A dot continues the name; anything else ends it.
		if l.peek(0) == '.' {
			l.pos++
			continue
		}
		return strings.Join(parts, ".")
	}
}
