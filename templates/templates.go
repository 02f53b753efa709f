// Package templates renders emails: a Markdown body (goldmark) with Go-template
// merge fields, inside a table-based HTML layout with inlined CSS (premailer),
// plus the plain-text part.
package templates
