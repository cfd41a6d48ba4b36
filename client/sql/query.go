package sql

import (
	"strings"
	"unicode/utf8"
)

// dialect selects the few lexical rules on which SQL dialects disagree in
// ways that matter for hiding literals: whether a backslash escapes a quote
// inside '...', whether "..." is a string or an identifier, and whether
// $tag$...$tag$ quoting and nested comments exist.
type dialect int

const (
	// dialectStandard follows PostgreSQL (and SQL standard) rules; it is used
	// for unknown drivers too, since it also knows dollar quotes and E''.
	dialectStandard dialect = iota
	// dialectMySQL follows MySQL/MariaDB defaults: backslash escapes in every
	// string, "..." is a string, # starts a comment, backticks quote names.
	dialectMySQL
)

// Sanitize returns query with every literal (strings, numbers, hex and bit
// strings, PostgreSQL dollar-quoted and E” strings, MySQL "..." strings)
// replaced by ? and comments removed, so that values never reach spans or
// logs. Placeholders ($1, ?, :name, @p1), keywords, identifiers and quoted
// identifiers are kept. It never fails: unterminated literals and comments
// swallow the rest of the text, which is the safe reading.
func Sanitize(query string) string { return sanitize(query, dialectStandard) }

// SanitizeMySQL is Sanitize with MySQL/MariaDB lexical rules.
func SanitizeMySQL(query string) string { return sanitize(query, dialectMySQL) }

func sanitize(query string, d dialect) string {
	var b strings.Builder
	b.Grow(len(query))
	lx := lexer{src: query, d: d}
	lastSpace := true // drop leading blanks
	for {
		tok := lx.next()
		switch tok.kind {
		case tokEOF:
			return strings.TrimRight(b.String(), " ")
		case tokSpace, tokComment:
			// A comment may carry values (or an sqlcommenter traceparent);
			// it becomes one blank so that tokens around it stay apart.
			if !lastSpace {
				b.WriteByte(' ')
				lastSpace = true
			}
			continue
		case tokLiteral:
			b.WriteByte('?')
		default:
			b.WriteString(query[tok.start:tok.end])
		}
		lastSpace = false
	}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokSpace
	tokComment
	tokLiteral     // string, number, hex/bit string, dollar-quoted string
	tokIdent       // keyword or bare identifier
	tokQuotedIdent // "name" (standard), `name` (MySQL)
	tokParam       // $1, ?, :name, @name
	tokPunct       // operators and punctuation, one rune at a time
)

type token struct {
	kind       tokKind
	start, end int
}

type lexer struct {
	src string
	pos int
	d   dialect
	// unterminated is set when a quoted token or comment ran to the end.
	unterminated bool
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (l *lexer) peek(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

func (l *lexer) next() token {
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, start: start, end: start}
	}
	kind := l.scan()
	if l.pos <= start { // defensive: always make progress
		_, n := utf8.DecodeRuneInString(l.src[start:])
		l.pos = start + n
	}
	return token{kind: kind, start: start, end: l.pos}
}

func (l *lexer) scan() tokKind {
	c := l.src[l.pos]
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		for l.pos < len(l.src) && strings.IndexByte(" \t\n\r\f\v", l.src[l.pos]) >= 0 {
			l.pos++
		}
		return tokSpace
	case c == '-' && l.peek(1) == '-', c == '#' && l.d == dialectMySQL:
		l.skipLine()
		return tokComment
	case c == '/' && l.peek(1) == '*':
		l.skipBlockComment()
		return tokComment
	case c == '\'':
		l.skipQuoted('\'', l.d == dialectMySQL)
		return tokLiteral
	case c == '"':
		if l.d == dialectMySQL {
			l.skipQuoted('"', true)
			return tokLiteral
		}
		l.skipQuoted('"', false)
		return tokQuotedIdent
	case c == '`' && l.d == dialectMySQL:
		l.skipQuoted('`', false)
		return tokQuotedIdent
	case isDigit(c) || c == '.' && isDigit(l.peek(1)):
		l.skipNumber()
		return tokLiteral
	case c == '$':
		return l.scanDollar()
	case c == '?':
		l.pos++
		return tokParam
	case (c == ':' || c == '@') && isIdentStart(l.peek(1)):
		l.pos++
		l.skipIdent()
		return tokParam
	case isIdentStart(c):
		return l.scanWord()
	}
	_, n := utf8.DecodeRuneInString(l.src[l.pos:])
	l.pos += n
	return tokPunct
}

func (l *lexer) skipLine() {
	if i := strings.IndexByte(l.src[l.pos:], '\n'); i >= 0 {
		l.pos += i + 1
		return
	}
	l.pos = len(l.src)
}

func (l *lexer) skipBlockComment() {
	l.pos += 2
	depth := 1
	for l.pos < len(l.src) {
		switch {
		case l.src[l.pos] == '*' && l.peek(1) == '/':
			l.pos += 2
			depth--
			if depth == 0 {
				return
			}
		case l.src[l.pos] == '/' && l.peek(1) == '*' && l.d == dialectStandard:
			// PostgreSQL nests block comments; MySQL does not.
			l.pos += 2
			depth++
		default:
			l.pos++
		}
	}
	l.unterminated = true
}

// skipQuoted moves past a quoted token starting at l.pos. A doubled quote is
// an escaped quote; with backslash, \x escapes any byte too. An unterminated
// token runs to the end of the text.
func (l *lexer) skipQuoted(q byte, backslash bool) {
	l.pos++
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case backslash && c == '\\':
			l.pos += 2
		case c == q && l.peek(1) == q:
			l.pos += 2
		case c == q:
			l.pos++
			return
		default:
			l.pos++
		}
	}
	l.pos = len(l.src)
	l.unterminated = true
}

func (l *lexer) skipNumber() {
	if l.src[l.pos] == '0' && (l.peek(1) == 'x' || l.peek(1) == 'X' || l.peek(1) == 'b' || l.peek(1) == 'B' || l.peek(1) == 'o' || l.peek(1) == 'O') {
		l.pos += 2
		for l.pos < len(l.src) && (isHex(l.src[l.pos]) || l.src[l.pos] == '_') {
			l.pos++
		}
	} else {
		for l.pos < len(l.src) && (isDigit(l.src[l.pos]) || l.src[l.pos] == '.' || l.src[l.pos] == '_') {
			l.pos++
		}
		if c := l.peek(0); c == 'e' || c == 'E' {
			if isDigit(l.peek(1)) {
				l.pos++
			} else if (l.peek(1) == '+' || l.peek(1) == '-') && isDigit(l.peek(2)) {
				l.pos += 2
			}
			for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
				l.pos++
			}
		}
	}
	// 123abc is not an identifier in SQL, but swallowing trailing identifier
	// characters keeps the digits from being emitted as part of a name.
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
}

// scanDollar reads $1 (parameter), $tag$...$tag$ or $$...$$ (PostgreSQL
// dollar-quoted string), or a lone $.
func (l *lexer) scanDollar() tokKind {
	start := l.pos
	if isDigit(l.peek(1)) {
		l.pos++
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
		return tokParam
	}
	if l.d == dialectStandard {
		end := start + 1
		if end < len(l.src) && isIdentStart(l.src[end]) {
			for end < len(l.src) && isIdentChar(l.src[end]) && l.src[end] != '$' {
				end++
			}
		}
		if end < len(l.src) && l.src[end] == '$' {
			tag := l.src[start : end+1]
			body := end + 1
			if i := strings.Index(l.src[body:], tag); i >= 0 {
				l.pos = body + i + len(tag)
			} else {
				l.pos = len(l.src)
				l.unterminated = true
			}
			return tokLiteral
		}
	}
	l.pos++
	return tokPunct
}

func (l *lexer) skipIdent() {
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
}

// scanWord reads an identifier or keyword, folding typed string prefixes
// (E'..', X'..', B'..', N'..', U&'..', _utf8mb4'..') into one literal, since
// E” strings use backslash escapes that would otherwise split the literal.
func (l *lexer) scanWord() tokKind {
	start := l.pos
	l.skipIdent()
	word := l.src[start:l.pos]
	if l.peek(0) == '&' && l.peek(1) == '\'' && (word == "U" || word == "u") {
		l.pos++
		l.skipQuoted('\'', l.d == dialectMySQL)
		return tokLiteral
	}
	if l.peek(0) != '\'' {
		return tokIdent
	}
	switch {
	case word == "E" || word == "e":
		l.skipQuoted('\'', true)
		return tokLiteral
	case len(word) == 1 && strings.ContainsAny(word, "XxBbNn"),
		l.d == dialectMySQL && word[0] == '_':
		l.skipQuoted('\'', l.d == dialectMySQL)
		return tokLiteral
	}
	return tokIdent
}

// open reports whether s ends inside an unterminated token (string,
// quoted identifier, dollar quote, block comment): text appended to it
// continues that token, so tests that append literals to arbitrary text skip
// such prefixes.
func open(s string, d dialect) bool {
	lx := lexer{src: s, d: d}
	for lx.next().kind != tokEOF {
	}
	return lx.unterminated
}
