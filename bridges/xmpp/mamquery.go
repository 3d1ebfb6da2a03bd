package xmpp

import (
	"strconv"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// Namespaces of the archive's queries (with nsMAM and nsRSM).
const (
	nsDataForms = "jabber:x:data"
)

// Page sizes of MAM answers (XEP-0059 max).
const (
	// mamDefaultPage is the page a query without max gets.
	mamDefaultPage = 50
	// mamMaxPage caps max.
	mamMaxPage = 100
	// mamMaxIDs bounds the ids field.
	mamMaxIDs = mamMaxPage
)

// archiveQuery is a parsed XEP-0313 query (an IQ set of <query
// xmlns='urn:xmpp:mam:2'/>): its form fields and its RSM set.
type archiveQuery struct {
	QueryID string
	// With is the with field as given ("" when absent).
	With string
	// Start and End bound the messages' times (zero when absent).
	Start, End time.Time
	// BeforeID and AfterID bound the messages by position (#extended).
	BeforeID, AfterID string
	// IDs asks for these messages only (#extended).
	IDs []string
	// Max is the page size, from RSM max (default mamDefaultPage, at
	// most mamMaxPage).
	Max int
	// Before is RSM <before/>: nil when absent, "" for the last page,
	// else the ID the page ends before; paging goes backward.
	Before *string
	// After is RSM <after/> ("" when absent).
	After string
	// Flip asks for the page in reverse order (<flip-page/>).
	Flip bool
}

// queryError is the error answer to a query: an RFC 6120 type,
// condition and text.
type queryError struct {
	Type, Cond, Text string
}

func badRequest(text string) *queryError { return &queryError{"modify", "bad-request", text} }

// parseMAMQuery reads the <query/> of a MAM IQ set. Unknown form fields
// and RSM index are feature-not-implemented (XEP-0313 §4.1.5); malformed
// values, a form of another type, and before and after together are
// bad-request; a node is item-not-found (a room has none).
func parseMAMQuery(st *component.Stanza) (archiveQuery, *queryError) {
	q := archiveQuery{Max: mamDefaultPage}
	query := tree(st.Inner).child(nsMAM, "query")
	if query == nil {
		return q, badRequest("no query")
	}
	if query.attr("node") != "" {
		return q, &queryError{"cancel", "item-not-found", "a room's archive has no nodes"}
	}
	q.QueryID = query.attr("queryid")
	if err := q.readForm(query.child(nsDataForms, "x")); err != nil {
		return q, err
	}
	if err := q.readRSM(query.child(nsRSM, "set")); err != nil {
		return q, err
	}
	q.Flip = query.child(nsMAM, "flip-page") != nil
	return q, nil
}

// readForm reads the query's data form (none is fine).
func (q *archiveQuery) readForm(x *node) *queryError {
	if x == nil {
		return nil
	}
	if t := x.attr("type"); t != "" && t != "submit" {
		return badRequest("the query form is of type submit")
	}
	for _, f := range x.all(nsDataForms, "field") {
		var values []string
		for _, v := range f.all(nsDataForms, "value") {
			values = append(values, v.text())
		}
		first := ""
		if len(values) > 0 {
			first = values[0]
		}
		switch v := f.attr("var"); v {
		case "FORM_TYPE":
			if first != nsMAM {
				return badRequest("the form's FORM_TYPE is not " + nsMAM)
			}
		case "with":
			q.With = first
		case "start", "end":
			if first == "" {
				continue
			}
			t, err := parseStamp(first)
			if err != nil {
				return badRequest(v + " is not an XEP-0082 date and time")
			}
			if v == "start" {
				q.Start = t.UTC()
			} else {
				q.End = t.UTC()
			}
		case "before-id":
			q.BeforeID = first
		case "after-id":
			q.AfterID = first
		case "ids":
			if len(values) > mamMaxIDs {
				return &queryError{"modify", "policy-violation", "at most " + strconv.Itoa(mamMaxIDs) + " ids at once"}
			}
			for _, id := range values {
				if id != "" {
					q.IDs = append(q.IDs, id)
				}
			}
		default:
			return &queryError{"cancel", "feature-not-implemented", "the field " + strconv.Quote(v) + " is not supported"}
		}
	}
	return nil
}

// readRSM reads the query's XEP-0059 set (none is fine).
func (q *archiveQuery) readRSM(set *node) *queryError {
	if set == nil {
		return nil
	}
	if set.child(nsRSM, "index") != nil {
		return &queryError{"cancel", "feature-not-implemented", "RSM index is not supported; page with before and after"}
	}
	if m := set.child(nsRSM, "max"); m != nil {
		n, err := strconv.Atoi(m.text())
		if err != nil || n < 0 {
			return badRequest("RSM max is a number of at least 0")
		}
		q.Max = min(n, mamMaxPage)
	}
	if b := set.child(nsRSM, "before"); b != nil {
		s := b.text()
		q.Before = &s
	}
	if a := set.child(nsRSM, "after"); a != nil {
		q.After = a.text()
		if q.After == "" {
			return badRequest("RSM after needs an id")
		}
	}
	if q.Before != nil && q.After != "" {
		return badRequest("RSM before and after together are undefined; use the before-id and after-id fields")
	}
	return nil
}
