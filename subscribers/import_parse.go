package subscribers

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tidings/tidings"
)

// Bounds on the work of one import. Reading goes row by row and valid rows
// go to Postgres a batch at a time, so what an import holds in memory is the
// addresses it has seen (at most MaxImportRows), the rejections it lists and
// one batch, whatever the size of the file.
const (
	// MaxImportRows is the most rows (not counting blank ones) one import
	// reads; it stops at the next and says so in ImportReport.Stopped.
	MaxImportRows = 200_000
	// MaxImportRejections is the most rejections an ImportReport lists;
	// Rejected counts them all.
	MaxImportRejections = 1000
	// importBatch is how many valid rows are copied to Postgres at a time.
	importBatch = 1000
	// maxZoneCache bounds the time zones an import remembers checking: a
	// file of made-up zones must not fill memory with their errors.
	maxZoneCache = 1000
	// maxImportRowBytes bounds one row of the file. encoding/csv holds a
	// whole row (a quoted cell may span lines) in memory, three times over,
	// and a valid row is a few kilobytes at most.
	maxImportRowBytes = 64 << 10
)

// ImportStop says where and why an import stopped reading its file before
// the end. The rows before Line were imported; those from Line on were not read.
type ImportStop struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// importColumns are the columns an import's header may name.
var importColumns = []string{"email", "name", "timezone", "tags"}

// importRow is a valid row, normalised, ready for the staging table.
type importRow struct {
	line     int
	email    string
	key      string // EmailKey(email)
	name     string
	timezone string
	tags     []string
}

// importReader reads the rows of an import's CSV one at a time, checking
// each, and reports the rejected ones in rep.
type importReader struct {
	cr      *csv.Reader
	rl      *rowLimit
	col     map[string]int
	width   int
	rep     *ImportReport
	seen    map[string]int   // EmailKey -> line of its row
	zones   map[string]error // time zones checked already
	rows    int              // rows read, blank ones not counted
	maxRows int
}

// newImportReader reads the header of the CSV in r. It returns EINVALID for
// an empty file, a malformed header, or one that lacks email or names an
// unknown column.
func newImportReader(r io.Reader, maxRows int) (*importReader, error) {
	rl := &rowLimit{r: r, line: 1}
	cr := csv.NewReader(rl)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if rl.err != nil {
		return nil, rl.err
	} else if errors.Is(err, io.EOF) {
		return nil, tidings.Errorf(tidings.EINVALID, "The file is empty. Its first line must be a header row naming the columns: email, and optionally name, timezone and tags.")
	} else if err != nil {
		return nil, malformedCSV(err)
	}
	headerLine, _ := cr.FieldPos(0) // 1, unless blank lines come first
	col, err := importHeader(header, headerLine)
	if err != nil {
		return nil, err
	}
	return &importReader{
		cr: cr, rl: rl, col: col, width: len(header),
		rep:  &ImportReport{Rejections: []ImportRejection{}},
		seen: make(map[string]int), zones: make(map[string]error),
		maxRows: maxRows,
	}, nil
}

// reject counts a refused row and lists it while the list has room.
func (ir *importReader) reject(line int, email, reason string) {
	rep := ir.rep
	rep.Rejected++
	if len(rep.Rejections) < MaxImportRejections {
		email = truncateRunes(strings.ToValidUTF8(strings.TrimSpace(email), "\ufffd"), maxEmailLen)
		rep.Rejections = append(rep.Rejections, ImportRejection{Line: line, Email: email, Reason: reason})
	} else {
		rep.RejectionsTruncated = true
	}
}

func (ir *importReader) cell(rec []string, name string) string {
	if i, ok := ir.col[name]; ok {
		return rec[i]
	}
	return ""
}

// next returns the next valid row, rejecting the invalid ones on the way. It
// returns io.EOF at the end of the file, and also when the file has more
// than maxRows rows, after setting rep.Stopped. A file that is not
// well-formed CSV is EINVALID naming the line; an error reading the input is
// returned wrapped.
func (ir *importReader) next() (importRow, error) {
	for {
		rec, err := ir.cr.Read()
		if ir.rl.err != nil {
			return importRow{}, ir.rl.err
		} else if errors.Is(err, io.EOF) {
			return importRow{}, io.EOF
		} else if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				return importRow{}, tidings.Errorf(tidings.EINVALID, "The CSV is malformed at line %d: the row has %s, the header has %d. Nothing was imported.", pe.StartLine, fieldCount(len(rec)), ir.width)
			}
			return importRow{}, malformedCSV(err)
		}
		line, _ := ir.cr.FieldPos(0)
		if blankRecord(rec) {
			continue
		}
		if ir.rows++; ir.rows > ir.maxRows {
			ir.rep.Stopped = &ImportStop{Line: line, Reason: fmt.Sprintf(
				"An import reads at most %d rows, so it stopped at line %d: the rows before it were imported, that row and those after it were not read. Import them in another file.", ir.maxRows, line)}
			return importRow{}, io.EOF
		}
		if row, ok := ir.check(rec, line); ok {
			return row, nil
		}
	}
}

// check normalises one row, or rejects it.
func (ir *importReader) check(rec []string, line int) (importRow, bool) {
	raw := ir.cell(rec, "email")
	email, err := NormalizeEmail(raw)
	if err != nil {
		ir.reject(line, raw, tidings.ErrorMessage(err))
		return importRow{}, false
	}
	name, err := ValidateName(ir.cell(rec, "name"))
	if err != nil {
		ir.reject(line, raw, tidings.ErrorMessage(err))
		return importRow{}, false
	}
	tz := strings.TrimSpace(ir.cell(rec, "timezone"))
	if tz != "" {
		zerr, ok := ir.zones[tz]
		if !ok {
			zerr = ValidateTimezone(tz)
			if len(ir.zones) < maxZoneCache {
				ir.zones[tz] = zerr
			}
		}
		if zerr != nil {
			ir.reject(line, raw, tidings.ErrorMessage(zerr))
			return importRow{}, false
		}
	}
	tags, err := NormalizeTags(splitTagCell(ir.cell(rec, "tags")))
	if err != nil {
		ir.reject(line, raw, tidings.ErrorMessage(err))
		return importRow{}, false
	}
	key := EmailKey(email)
	if first, ok := ir.seen[key]; ok {
		ir.reject(line, raw, fmt.Sprintf("This address is already on line %d.", first))
		return importRow{}, false
	}
	ir.seen[key] = line
	// The record's strings are reused by the next Read only as a slice;
	// the strings themselves stay valid, and email and name are new ones.
	return importRow{line: line, email: email, key: key, name: name, timezone: tz, tags: tags}, true
}

// importHeader maps each column name of the header (trimmed, any case) to
// its index. It returns EINVALID for an unknown or repeated column and for a
// header without email.
func importHeader(header []string, line int) (map[string]int, error) {
	col := make(map[string]int, len(header))
	var unknown []string
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // the byte order mark spreadsheets write
		}
		name := strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(importColumns, name):
			unknown = append(unknown, fmt.Sprintf("%q", truncateRunes(strings.ToValidUTF8(h, "\ufffd"), 40)))
		case hasKey(col, name):
			return nil, tidings.Errorf(tidings.EINVALID, "The header names the column %q twice.", name)
		default:
			col[name] = i
		}
	}
	if len(unknown) > 0 {
		if len(unknown) > 10 {
			unknown = append(unknown[:10], "...")
		}
		return nil, tidings.Errorf(tidings.EINVALID, "The header row (line %d) has unknown columns: %s. The columns are email, name, timezone and tags. Nothing was imported.", line, strings.Join(unknown, ", "))
	}
	if !hasKey(col, "email") {
		return nil, tidings.Errorf(tidings.EINVALID, "The header row (line %d) has no email column. The first line must name the columns: email, and optionally name, timezone and tags. Nothing was imported.", line)
	}
	return col, nil
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// malformedCSV turns a CSV syntax error into EINVALID naming the line; any
// other error (reading the input failed) is returned as it is.
func malformedCSV(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read CSV: %w", err)
	}
	why := pe.Err.Error()
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		why = `a quoted field is not closed properly (a " is missing, or a stray one follows the closing quote)`
	case errors.Is(pe.Err, csv.ErrBareQuote):
		why = `a " appears in a field that is not quoted; quote the whole field and double each " inside it`
	}
	where := fmt.Sprintf("line %d", pe.Line)
	if pe.StartLine != pe.Line {
		where += fmt.Sprintf(" (in the row that starts on line %d)", pe.StartLine)
	}
	return tidings.Errorf(tidings.EINVALID, "The CSV is malformed at %s: %s. Nothing was imported.", where, why)
}

func fieldCount(n int) string {
	if n == 1 {
		return "1 field"
	}
	return fmt.Sprintf("%d fields", n)
}

// blankRecord reports whether every cell of rec is blank, as in the trailing
// ",,," rows spreadsheets write.
func blankRecord(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// splitTagCell splits a tags cell at ";" and "|", dropping blank pieces.
func splitTagCell(s string) []string {
	tags := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '|' })
	return slices.DeleteFunc(tags, func(t string) bool { return strings.TrimSpace(t) == "" })
}

// rowLimit passes a CSV through, failing with EINVALID once a row runs past
// maxImportRowBytes. It finds rows as encoding/csv does for well-formed
// input: a line break ends a row unless an odd number of quotes came before
// it in the row (a quoted cell continues; "" inside one is two quotes).
type rowLimit struct {
	r       io.Reader
	err     error // the limit's error, once hit
	line    int   // the physical line being read, from 1
	row     int   // bytes of the current row so far
	quotes  bool  // inside a quoted cell
	rowLine int   // the line where the current row starts
}

func (l *rowLimit) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if l.row == 0 {
			l.rowLine = l.line
		}
		l.row++
		switch c {
		case '"':
			l.quotes = !l.quotes
		case '\n':
			l.line++
			if !l.quotes {
				l.row = 0
				continue
			}
		}
		if l.row > maxImportRowBytes {
			l.err = tidings.Errorf(tidings.EINVALID, "The row that starts on line %d is longer than %d KiB; no row of an import is that long. Nothing was imported.", l.rowLine, maxImportRowBytes>>10)
			return i, l.err
		}
	}
	return n, err
}
