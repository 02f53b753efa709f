package templates

// RenderDirect renders c for to the way Render did before Prepare: the
// subscriber values as placeholders through goldmark, the layout and
// premailer, and the links as they are. Tests hold Prepared.For to it.
func (r *Renderer) RenderDirect(c Content, l List, to Recipient) (*Message, error) {
	p, err := prepare(c)
	if err != nil {
		return nil, err
	}
	d := newData(to)
	subject, err := p.subject.execute(d)
	if err != nil {
		return nil, err
	}
	body, err := p.body.execute(d)
	if err != nil {
		return nil, err
	}
	content, text, err := r.markdown(body)
	if err != nil {
		return nil, err
	}
	return r.finish(page{
		Subject:        subject,
		Preheader:      p.preheader,
		Content:        content,
		List:           l,
		UnsubscribeURL: to.UnsubscribeURL,
		PreferencesURL: to.PreferencesURL,
		Reason:         "You are receiving this email because you subscribed to " + l.Name + ".",
	}, text)
}
