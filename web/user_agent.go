package web

import (
	"regexp"
	"strings"
)

// uaProducts are the browsers and tools shortUserAgent names, most specific
// first: Edge and Opera also say Chrome and Safari, Chrome also says Safari.
var uaProducts = []struct {
	re   *regexp.Regexp
	name string
}{
	{regexp.MustCompile(`Edg(?:e|A|iOS)?/(\d+)`), "Edge"},
	{regexp.MustCompile(`OPR/(\d+)`), "Opera"},
	{regexp.MustCompile(`Firefox/(\d+)`), "Firefox"},
	{regexp.MustCompile(`CriOS/(\d+)`), "Chrome"},
	{regexp.MustCompile(`Chrome/(\d+)`), "Chrome"},
	{regexp.MustCompile(`Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/`), "Safari"},
	{regexp.MustCompile(`^curl/(\d+)`), "curl"},
	{regexp.MustCompile(`^Go-http-client/(\d+)`), "Go"},
}

// uaSystems are the operating systems shortUserAgent names, in the order
// they are looked for (an iPhone's user agent also says "like Mac OS X").
var uaSystems = []struct{ token, name string }{
	{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"},
	{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"},
	{"CrOS", "ChromeOS"}, {"Linux", "Linux"},
}

// shortUserAgent is a user agent as a person reads it, "Firefox 121 on
// Windows", for a table of events; the full string stays one click away.
// One it does not know is cut to its first product token.
func shortUserAgent(ua string) string {
	if ua == "" {
		return ""
	}
	browser := ""
	for _, p := range uaProducts {
		if m := p.re.FindStringSubmatch(ua); m != nil {
			browser = p.name + " " + m[1]
			break
		}
	}
	system := ""
	for _, s := range uaSystems {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	first, _, _ := strings.Cut(ua, " ")
	return truncate(first, 40)
}
