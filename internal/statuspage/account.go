package statuspage

import (
	"strings"
	"time"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// AccountSource is implemented by a Source whose exporter runs account
// collectors (scrape.Scraper does): the page then shows a line for each. A
// Source without it, or without collectors, shows none.
type AccountSource interface {
	AccountCollectors() []scrape.CollectorStatus
}

// collectorView is one account collector's line on the page (issue 14):
// whether it works, and if not why, with what to do when the Zoom app lacks
// a scope.
type collectorView struct {
	Name         string
	Endpoints    string
	State        string // as scrape names it
	Class        string // CSS class of the badge
	MissingScope string
	LastSuccess  moment
	NextAttempt  moment
	LastError    string
}

// accountViews formats the account collectors of src; none without them.
func accountViews(src Source, now time.Time, clean func(string) string) []collectorView {
	as, ok := src.(AccountSource)
	if !ok {
		return nil
	}
	var out []collectorView
	for _, c := range as.AccountCollectors() {
		v := collectorView{
			Name: c.Name, Endpoints: strings.Join(c.Endpoints, ", "), State: c.State, MissingScope: c.MissingScope,
			LastSuccess: at(c.LastSuccess, now), NextAttempt: at(c.NextAttempt, now), LastError: clean(c.LastError),
		}
		switch c.State {
		case scrape.CollectorOK:
			v.Class = "ok"
		case scrape.CollectorWaiting, scrape.CollectorNotYet:
			v.Class = "never"
		default:
			v.Class = "failed"
		}
		out = append(out, v)
	}
	return out
}

// accountHTML is the account collectors' card, in the cards row: a line
// per collector; one disabled for a missing scope says which to add.
const accountHTML = `{{define "account"}}{{if .}}<section class="card" id="account-collectors">
<h2>Account collectors</h2>
<dl>
{{range .}}<dt>{{.Name}}</dt><dd class="collector" id="collector-{{.Name}}"><span class="badge {{.Class}}">{{.State}}</span>
{{if .MissingScope}} the Zoom app lacks the scope <code>{{.MissingScope}}</code>; add it in the Zoom App Marketplace (or turn the collector off with <code>--no-collector.{{.Name}}</code>); tried again {{template "when" .NextAttempt}}. The other collectors go on.
{{else if eq .State "waiting"}} waiting for the daily Heavy-call budget.
{{else if .LastError}} <code>{{.LastError}}</code>; tried again {{template "when" .NextAttempt}}.
{{end}}<br><small>{{.Endpoints}}; last success {{template "when" .LastSuccess}}</small></dd>
{{end}}</dl>
</section>
{{end}}{{end}}`
