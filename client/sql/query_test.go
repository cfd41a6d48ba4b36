package sql

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"string", "SELECT * FROM users WHERE name = 'alice'", "SELECT * FROM users WHERE name = ?"},
		{"doubled quote", "SELECT 'it''s secret' FROM t", "SELECT ? FROM t"},
		{"numbers", "SELECT a FROM t WHERE id = 42 AND x > 3.14 AND y < -1e10 AND z = .5", "SELECT a FROM t WHERE id = ? AND x > ? AND y < -? AND z = ?"},
		{"hex and bits", "SELECT 0xDEADBEEF, X'0aff', B'0101', x'ab'", "SELECT ?, ?, ?, ?"},
		{"in list", "DELETE FROM t WHERE id IN (1, 2, 3)", "DELETE FROM t WHERE id IN (?, ?, ?)"},
		{"placeholders kept", "UPDATE t SET a = $1, b = ? WHERE c = :name AND d = @p1", "UPDATE t SET a = $1, b = ? WHERE c = :name AND d = @p1"},
		{"identifiers with digits", "SELECT col1, t2.c3 FROM tab_9 AS t2", "SELECT col1, t2.c3 FROM tab_9 AS t2"},
		{"quoted identifier kept", `SELECT "Weird Name", "with""quote" FROM "Users"`, `SELECT "Weird Name", "with""quote" FROM "Users"`},
		{"dollar quote", "SELECT $$secret body$$, $fn$ it's $$ secret $fn$", "SELECT ?, ?"},
		{"e string with backslash quote", `SELECT E'it\'s secret' FROM t`, "SELECT ? FROM t"},
		{"unicode string", `SELECT U&'secret' FROM t`, "SELECT ? FROM t"},
		{"line comment", "SELECT 1 -- secret\nFROM t", "SELECT ? FROM t"},
		{"block comment", "SELECT /* secret 'x' */ a FROM t /*traceparent='00-abc'*/", "SELECT a FROM t"},
		{"nested comment", "SELECT /* a /* secret */ still comment */ b", "SELECT b"},
		{"unterminated string", "SELECT 'secret", "SELECT ?"},
		{"unterminated comment", "SELECT a /* secret", "SELECT a"},
		{"unterminated dollar", "SELECT $x$ secret", "SELECT ?"},
		{"true false null kept", "SELECT true, false, NULL", "SELECT true, false, NULL"},
		{"whitespace collapsed", "  SELECT\n\ta\n FROM   t  ", "SELECT a FROM t"},
		{"unicode", "SELECT 'héllo' FROM tàble", "SELECT ? FROM tàble"},
		{"lone dollar", "SELECT $ FROM t", "SELECT $ FROM t"},
		{"backslash is literal in standard strings", `SELECT 'C:\', 'secret'`, "SELECT ?, ?"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in); got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSanitizeMySQL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"backslash escape", `SELECT 'it\'s secret' FROM t`, "SELECT ? FROM t"},
		{"double quoted string", `SELECT * FROM t WHERE a = "secret \" value"`, "SELECT * FROM t WHERE a = ?"},
		{"backtick identifier kept", "SELECT `my col` FROM `db`.`t`", "SELECT `my col` FROM `db`.`t`"},
		{"hash comment", "SELECT a # secret\nFROM t", "SELECT a FROM t"},
		{"introducer", "SELECT _utf8mb4'secret'", "SELECT ?"},
		{"hex", "SELECT 0x1F, X'1F'", "SELECT ?, ?"},
		{"no dollar quotes", "SELECT $a$ FROM t", "SELECT $a$ FROM t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SanitizeMySQL(tt.in); got != tt.want {
				t.Errorf("SanitizeMySQL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseStatement(t *testing.T) {
	tests := []struct {
		in, op, coll string
	}{
		{"SELECT * FROM users WHERE id = $1", "SELECT", "users"},
		{"select a from public.users u join b on true", "SELECT", "public.users"},
		{`SELECT * FROM "Users"`, "SELECT", `"Users"`},
		{"SELECT extract(year from d) FROM t", "SELECT", "t"},
		{"SELECT * FROM (SELECT 1) s", "SELECT", ""},
		{"SELECT 1", "SELECT", ""},
		{"INSERT INTO orders (a) VALUES ($1)", "INSERT", "orders"},
		{"UPDATE accounts SET a = 1", "UPDATE", "accounts"},
		{"DELETE FROM sessions WHERE x", "DELETE", "sessions"},
		{"CREATE TABLE IF NOT EXISTS t_1 (id int)", "CREATE", "t_1"},
		{"DROP TABLE IF EXISTS t_1", "DROP", "t_1"},
		{"TRUNCATE TABLE t", "TRUNCATE", "t"},
		{"/* c */ (SELECT a FROM t)", "SELECT", "t"},
		{"BEGIN", "BEGIN", ""},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "WITH", ""},
		{"SELECT 1; DROP TABLE t", "SELECT", ""},
		{"", "", ""},
		{"'x'", "", ""},
	}
	for _, tt := range tests {
		st := parseStatement(tt.in, dialectStandard)
		if st.operation != tt.op || st.collection != tt.coll {
			t.Errorf("parseStatement(%q) = %q %q, want %q %q", tt.in, st.operation, st.collection, tt.op, tt.coll)
		}
	}
}

// literalForms renders secret (letters and digits only) as every kind of
// literal the sanitiser knows, for dialect d.
func literalForms(secret string, d dialect) []string {
	forms := []string{"'" + secret + "'", "X'" + secret + "'", "'a''" + secret + "'"}
	if d == dialectMySQL {
		forms = append(forms, `"`+secret+`"`, `'\'`+secret+`'`, "_utf8mb4'"+secret+"'")
	} else {
		forms = append(forms, "$$"+secret+"$$", "$q$"+secret+"$q$", `E'\'`+secret+`'`, "U&'"+secret+"'", "/* "+secret+" */", "-- "+secret+"\n")
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, secret)
	if len(digits) >= 3 {
		forms = append(forms, digits, digits+".5", "0x"+digits)
	}
	return forms
}

// FuzzSanitize checks that a literal placed anywhere between two arbitrary
// (well-formed) pieces of SQL never survives sanitising, that sanitising
// never panics and is idempotent.
func FuzzSanitize(f *testing.F) {
	f.Add("SELECT * FROM t WHERE a =", "s3cr3t42", "AND b = 1", false)
	f.Add("INSERT INTO t VALUES (", "987654", ")", true)
	f.Add("SELECT $a$", "xyz123", "$a$", false)
	f.Add(`SELECT "`, "abc999", `"`, false)
	f.Add("/*", "zz1234", "*/", true)
	f.Add("SELECT E'\\", "qq4567", "'", false)
	f.Fuzz(func(t *testing.T, prefix, secret, suffix string, mysql bool) {
		d := dialectStandard
		sanitizeFn := Sanitize
		if mysql {
			d = dialectMySQL
			sanitizeFn = SanitizeMySQL
		}
		// Arbitrary text: no panic, idempotent.
		for _, s := range []string{prefix, secret, suffix, prefix + secret + suffix} {
			once := sanitizeFn(s)
			if twice := sanitizeFn(once); twice != once {
				t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
			}
		}
		// Embedded literal: the secret must vanish.
		if len(secret) < 4 || strings.ContainsFunc(secret, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			return
		}
		if strings.Contains(prefix, secret) || strings.Contains(suffix, secret) || open(prefix, d) {
			return // the secret is also a name in the surrounding text
		}
		for _, lit := range literalForms(secret, d) {
			q := prefix + " " + lit + " " + suffix
			if out := sanitizeFn(q); strings.Contains(out, secret) {
				t.Fatalf("literal %q leaked: %q -> %q", lit, q, out)
			}
		}
	})
}

func FuzzParseStatement(f *testing.F) {
	f.Add("SELECT * FROM t")
	f.Add("DROP TABLE IF EXISTS")
	f.Add("UPDATE")
	f.Fuzz(func(t *testing.T, q string) {
		for _, d := range []dialect{dialectStandard, dialectMySQL} {
			st := parseStatement(q, d)
			if strings.ContainsAny(st.summary(), "'") && !strings.Contains(q, st.collection) {
				t.Fatalf("summary %q not from %q", st.summary(), q)
			}
		}
	})
}

func BenchmarkSanitize(b *testing.B) {
	q := "SELECT u.id, u.name FROM users u WHERE u.email = 'a@b.c' AND u.age > 42 AND u.tag IN ('x', 'y') -- note"
	b.ReportAllocs()
	for b.Loop() {
		_ = Sanitize(q)
	}
}
