// Unit tests of markdown.js: `node --test Examples/web-viewer/test/` (Node 18+, no packages).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'node:test'
import { pathToFileURL } from 'node:url'

// markdown.js is a browser ES module next to a page with no package.json: load a copy as .mjs.
const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'newsroom-markdown-')), 'markdown.mjs')
fs.copyFileSync(new URL('../markdown.js', import.meta.url), copy)
const md = await import(pathToFileURL(copy).href)

const html = (text, options) => md.toHTML(md.renderMarkdown(text, options).blocks)

// The demo's answers (Sources/NewsroomServer/Demo/DemoScript.swift) and documents that exercise
// each construct and the awkward corners between them.
const DEMO = [
    "# Broadcasting one answer to many viewers\n\nA **broadcast hub** receives one upstream stream and sends it to *every* viewer at once. Each viewer that joins late first gets the `history`, then the live tail.\n\n## Why it matters\n\n- One upstream request, however many viewers.\n- Late joiners see the whole answer so far.\n- A slow viewer never slows the others.\n\n> Encode each event once, share the bytes, and flush once per batch.\n\n## Try it\n\n```swift\nlet hub = Hub(encoders: [SSEEncoder()], eventLoopGroup: group)\ntry hub.publish(.textDelta(TextDelta(text: \"Hello\")), to: \"demo\")\n```\n\nOpen a second terminal and watch the same topic: both see **the same text**, in order.",
    "## Resuming after a dropped connection\n\nEvery stored event has a `seq`. The SSE `id:` line carries it, so a browser's `EventSource` reconnects with `Last-Event-ID` and the hub sends only what was missed.\n\n1. The client receives `id: 41`.\n2. The train enters a tunnel; the socket drops.\n3. The client reconnects with `Last-Event-ID: 41` and receives `42` onwards.\n\n```bash\ncurl -N -H 'Last-Event-ID: 41' http://127.0.0.1:8080/v1/topics/demo-2/events\n```\n\nNothing is lost and nothing arrives twice. See [the SSE spec](https://html.spec.whatwg.org/multipage/server-sent-events.html).",
    "### Slow consumers\n\nA viewer on a bad network gets a bounded queue and one of three policies:\n\n- `coalesce` merges consecutive deltas, so the text stays complete.\n- `drop_oldest` drops old deltas and sends a `gap` event.\n- `disconnect` closes the stream; the viewer resumes from its last id.\n\n```json\n{\"type\":\"gap\",\"from\":120,\"to\":180}\n```\n\n*Everyone else* keeps receiving at full speed.",
]
const HOSTILE = "# <script>window.__pwned = 1</script>\n\n<img src=x onerror=\"window.__pwned = 2\"> and [click me](javascript:alert(1)) and [again](JaVaScRiPt:window.__pwned=3) and [data](data:text/html,<script>alert(1)</script>) and [vb](vbscript:msgbox) and <javascript:alert(2)>.\n\nEntities stay text: &lt;b&gt; &amp; &#x3C;script&#x3E; &quot;\n\n```html\n</code></pre><script>window.__pwned = 4</script>\n```\n\n> <iframe src=\"javascript:alert(3)\"></iframe>\n\n- ![pixel](https://tracker.example/p.gif) `<b>code</b>`\n"
const CORNERS = [
    "Text right before a fence:\n```js\nconst a = 1\n\n\nconst b = 2\n```\nand after it.",
    "- item one\n  continued\n- item two\n\n  second paragraph\n- item three\n  ```\n  code in item\n  ```\n\n1) first\n2) second\n\n7. seven\n8. eight",
    "> quote line\n> - list in quote\n>\n> ```\n> code in quote\n> ```\n\nlazy\n> continuation\nhere",
    "Setext\n======\n\nTwo\n---\n\n***\n\n- - -\n\n#not a heading\n####### seven\n# closed #####\n",
    "Emphasis: *a* _b_ **c** __d__ ***e*** snake_case_word 2 * 3 * 4 **unclosed and *nested* one\n\nescaped \\*not\\* and \\`tick\\` and a trailing backslash\\",
    "Code spans: `a` ``b ` c`` ` spaced ` `unclosed\n\nLinks: [a](http://x.com/a_(b)) [b](</x y>) [c](/rel \"title\") [d][ref] [e] <https://auto.link/x> <mailto:a@b.c>",
    "~~~~python\n```\nstill code\n~~~\n~~~~~\nafter\n\n   ```indented\n   strip me\n    keep one\n   ```",
    "Hard  \nbreak and soft\nbreak\\\nand backslash break\n\n\n\n\nmany blank lines\n",
    "- a\n    - deep\n        - deeper\n- b\n\n\n- c\n\nend\n",
    "\tTabbed line\n-\tTabbed item\n\n1. \n2. empty item above\n",
    "Unicode: héllo — “quotes” *emphäsis* `código` 🎉 **粗体**",
    "Intro line\n| Transport | Port | Resume |\n|:--|:-:|--:|\n| SSE | `8080` | `Last-Event-ID` |\n| WS | 8080 | `?after=` \\| seq |\nrow without pipes\n| short |\n\n> | in | quote |\n> | -- | -- |\n> | a | b |\n\n- | in | item |\n  |---|---|\n  | 1 | 2 |\n\na | b\n---\n\nx | y\n-- | --\n# heading ends it",
]
const ALL = [...DEMO, HOSTILE, ...CORNERS]

// A deterministic random number generator, so a failure can be replayed.
function random(seed) {
    let state = seed >>> 0
    return () => {
        state = (state + 0x6d2b79f5) >>> 0
        let t = state
        t = Math.imul(t ^ (t >>> 15), t | 1)
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
}

/** Feeds `text` in random pieces, rendering at random moments; returns the HTML of everything. */
function renderInPieces(text, rand, onRender = () => {}) {
    const incremental = new md.IncrementalMarkdown()
    const frozen = []
    let position = 0
    while (position < text.length) {
        const size = 1 + Math.floor(rand() * (rand() < 0.2 ? 40 : 6))
        incremental.append(text.slice(position, position + size))
        position += size
        if (rand() < 0.6) {
            const { frozen: done, tail } = incremental.render()
            frozen.push(...done)
            onRender(frozen, tail)
        }
    }
    const { frozen: done, tail } = incremental.render({ final: true })
    assert.deepEqual(tail, [])
    frozen.push(...done)
    return md.toHTML(frozen)
}

test('incremental rendering equals one-shot rendering, for random chunkings', () => {
    for (const [n, text] of ALL.entries()) {
        const expected = html(text)
        for (let seed = 1; seed <= 60; seed++) {
            const got = renderInPieces(text, random(seed * 1000 + n))
            assert.equal(got, expected, `document ${n}, seed ${seed}`)
        }
    }
})

test('incremental rendering equals one-shot rendering for random Markdown', () => {
    const pieces = ['# ', '## ', '- ', '1. ', '> ', '```', '~~~', '\n', '\n\n', '  ', '*', '**', '_', '`', '[', '](', ')',
        'http://x.y', 'javascript:', 'word', ' ', 'text ', '<b>', '&amp;', '---', '\\', '\t', '    ', '3) ', 'é']
    for (let seed = 1; seed <= 300; seed++) {
        const rand = random(seed)
        let text = ''
        const length = 5 + Math.floor(rand() * 80)
        for (let i = 0; i < length; i++) text += pieces[Math.floor(rand() * pieces.length)]
        const expected = html(text)
        for (let chunking = 0; chunking < 8; chunking++) {
            assert.equal(renderInPieces(text, random(seed * 7919 + chunking)), expected, JSON.stringify(text))
        }
    }
})

test('the demo renders headings, emphasis, inline code, lists, a quote, code and links', () => {
    assert.equal(html(DEMO[0]), [
        '<h1>Broadcasting one answer to many viewers</h1>',
        '<p>A <strong>broadcast hub</strong> receives one upstream stream and sends it to <em>every</em> viewer at once. Each viewer that joins late first gets the <code>history</code>, then the live tail.</p>',
        '<h2>Why it matters</h2>',
        '<ul><li>One upstream request, however many viewers.</li><li>Late joiners see the whole answer so far.</li><li>A slow viewer never slows the others.</li></ul>',
        '<blockquote><p>Encode each event once, share the bytes, and flush once per batch.</p></blockquote>',
        '<h2>Try it</h2>',
        '<pre data-lang="swift"><code class="language-swift">let hub = Hub(encoders: [SSEEncoder()], eventLoopGroup: group)\ntry hub.publish(.textDelta(TextDelta(text: &quot;Hello&quot;)), to: &quot;demo&quot;)</code></pre>',
        '<p>Open a second terminal and watch the same topic: both see <strong>the same text</strong>, in order.</p>',
    ].join(''))
    assert.match(html(DEMO[1]), /<ol><li>The client receives <code>id: 41<\/code>\.<\/li><li>/)
    assert.match(html(DEMO[1]), /<a href="https:\/\/html.spec.whatwg.org\/multipage\/server-sent-events.html" rel="noopener noreferrer nofollow" target="_blank">the SSE spec<\/a>/)
})

test('lists: tight, loose, ordered start, nesting; quotes with lazy lines; setext headings', () => {
    assert.equal(html('- a\n- b'), '<ul><li>a</li><li>b</li></ul>')
    assert.equal(html('- a\n\n- b'), '<ul><li><p>a</p></li><li><p>b</p></li></ul>')
    assert.equal(html('3. c\n4. d'), '<ol start="3"><li>c</li><li>d</li></ol>')
    assert.equal(html('- a\n  - b\n- c'), '<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>')
    assert.equal(html('- a\n+ b'), '<ul><li>a</li></ul><ul><li>b</li></ul>')
    assert.equal(html('para\n2. not a list'), '<p>para\n2. not a list</p>')
    assert.equal(html('> a\nb\n\nc'), '<blockquote><p>a\nb</p></blockquote><p>c</p>')
    assert.equal(html('T\n==='), '<h1>T</h1>')
    assert.equal(html('***'), '<hr>')
})

test('fences: an unclosed fence is a growing code block, never raw backticks', () => {
    const streaming = (text) => html(text, { final: false })
    assert.equal(streaming('Intro\n\n```'), '<p>Intro</p><pre data-open=""><code></code></pre>')
    assert.equal(streaming('```py'), '<pre data-lang="py" data-open=""><code class="language-py"></code></pre>')
    assert.equal(streaming('```py\nprint(1)\npri'), '<pre data-lang="py" data-open=""><code class="language-py">print(1)\npri</code></pre>')
    // A partial line that may become the closing fence is held back…
    assert.equal(streaming('```\ncode\n`'), '<pre data-open=""><code>code</code></pre>')
    assert.equal(streaming('```\ncode\n``` '), '<pre data-open=""><code>code</code></pre>')
    // …and one that cannot is code.
    assert.equal(streaming('````\ncode\n``` x'), '<pre data-open=""><code>code\n``` x</code></pre>')
    // A partial line that may become a fence shows nothing yet.
    assert.equal(streaming('Text\n\n`'), '<p>Text</p>')
    assert.equal(streaming('Text\n\n``'), '<p>Text</p>')
    // At the end of the stream an unclosed fence is a code block to the end.
    assert.equal(html('```\na\n\nb'), '<pre><code>a\n\nb</code></pre>')
    assert.equal(html('```\na\n```'), '<pre><code>a</code></pre>')
    assert.equal(html('~~~\n```\n~~~'), '<pre><code>```</code></pre>')
    assert.equal(html('````\n```\n````'), '<pre><code>```</code></pre>')
    assert.equal(html('  ```\n  a\n    b\n  ```'), '<pre><code>a\n  b</code></pre>')
})

test('streaming: no intermediate render shows raw backticks, fence markers or a half-typed link', () => {
    for (const [n, text] of DEMO.entries()) {
        for (let seed = 1; seed <= 40; seed++) {
            renderInPieces(text, random(seed + 100 * n), (frozen, tail) => {
                const shown = md.toText([...frozen, ...tail])
                assert.ok(!shown.includes('`'), `raw backtick in ${JSON.stringify(shown.slice(-80))}`)
                assert.ok(!shown.includes(']('), `raw link markup in ${JSON.stringify(shown.slice(-80))}`)
                assert.ok(!/\*\*/.test(shown), `raw ** in ${JSON.stringify(shown.slice(-80))}`)
            })
        }
    }
})

test('streaming: unfinished inline markup is shown as it will end up', () => {
    const streaming = (text) => html(text, { final: false })
    assert.equal(streaming('Hello **wor'), '<p>Hello <strong>wor</strong></p>')
    assert.equal(streaming('Hello **world*'), '<p>Hello <strong>world</strong></p>')
    assert.equal(streaming('Hello *wor'), '<p>Hello <em>wor</em></p>')
    assert.equal(streaming('Use `hub.pub'), '<p>Use <code>hub.pub</code></p>')
    assert.equal(streaming('See [the spec](https://html.spec'), '<p>See the spec</p>')
    assert.equal(streaming('See [the sp'), '<p>See the sp</p>')
    assert.equal(streaming('# Tit'), '<h1>Tit</h1>')
    assert.equal(streaming('para\n#'), '<p>para</p>')
    assert.equal(streaming('2 * 3'), '<p>2 * 3</p>')
    // At the end of the stream the same text is literal.
    assert.equal(html('Hello **wor'), '<p>Hello **wor</p>')
    assert.equal(html('Use `hub.pub'), '<p>Use `hub.pub</p>')
    assert.equal(html('See [the sp'), '<p>See [the sp</p>')
})

test('tables: header, alignment row, cells with inline markup and escaped pipes', () => {
    assert.equal(
        html('| a | *b* | c |\n|:--|:-:|--:|\n| 1 | `x \\| y` | [l](https://e.x) |\n| only one |'),
        '<table><thead><tr><th data-align="left">a</th><th data-align="center"><em>b</em></th>' +
            '<th data-align="right">c</th></tr></thead><tbody><tr><td data-align="left">1</td>' +
            '<td data-align="center"><code>x | y</code></td><td data-align="right">' +
            '<a href="https://e.x" rel="noopener noreferrer nofollow" target="_blank">l</a></td></tr>' +
            '<tr><td data-align="left">only one</td><td data-align="center"></td><td data-align="right"></td></tr>' +
            '</tbody></table>',
    )
    // Outer pipes are optional; a header with no rows has no tbody; the lines before it stay a paragraph.
    assert.equal(html('p\na | b\n--|--'), '<p>p</p><table><thead><tr><th>a</th><th>b</th></tr></thead></table>')
    // Not tables: the cell counts differ; no pipe in the alignment row (a setext heading).
    assert.equal(html('| a | b |\n| -- |'), '<p>| a | b |\n| -- |</p>')
    assert.equal(html('a | b\n---'), '<h2>a | b</h2>')
    // A blank line or another block ends a table; a plain line is a row.
    assert.equal(html('|a|\n|-|\nb\n> q'), '<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>b</td></tr></tbody></table><blockquote><p>q</p></blockquote>')
})

test('tables while streaming: no raw pipes of the header or alignment rows, rows appear as they arrive', () => {
    const streaming = (text) => html(text, { final: false })
    const text = 'Intro\n| Name | Value |\n| :--- | ---: |\n| alpha | **1** |\n| beta | 2 |\n\nEnd.'
    for (let end = 1; end <= text.length; end++) {
        const shown = streaming(text.slice(0, end))
        assert.ok(!/\| *Name|:---|---:|\| *-/.test(shown), `raw table markup after ${end} characters: ${shown}`)
    }
    assert.equal(streaming('| a | b |\n|---|---|\n| 1 | **x'),
        '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td><strong>x</strong></td></tr></tbody></table>')
    assert.equal(streaming('Intro\n| a | b |'), '<p>Intro</p>')
})

test('escaping: model output is text, never HTML', () => {
    const out = html(HOSTILE)
    assert.ok(!/<(script|img|iframe)/i.test(out), out)
    assert.ok(!/href="\s*(javascript|data|vbscript):/i.test(out), out)
    assert.ok(out.includes('&lt;script&gt;window.__pwned = 1&lt;/script&gt;'))
    assert.ok(out.includes('&lt;img src=x onerror=&quot;window.__pwned = 2&quot;&gt;'))
    assert.ok(out.includes('&amp;lt;b&amp;gt; &amp;amp; &amp;#x3C;script&amp;#x3E; &amp;quot;'))
    assert.ok(out.includes('<span class="refused-link" title="link refused: javascript:alert(1)">click me</span>'))
    assert.ok(out.includes('<code class="language-html">&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;'))
    assert.ok(out.includes('<a href="https://tracker.example/p.gif" rel="noopener noreferrer nofollow" target="_blank" class="image-link">pixel</a>'))
    const text = md.toText(md.renderMarkdown(HOSTILE).blocks)
    assert.ok(text.includes('<script>window.__pwned = 1</script>'))
    assert.ok(text.includes('&lt;b&gt; &amp; &#x3C;script&#x3E; &quot;'))
})

test('links: only http, https, mailto and relative destinations', () => {
    for (const bad of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)',
        'javascript\\:alert(1)', 'data:text/html,<b>', 'vbscript:msgbox', 'file:///etc/passwd',
        'javascript&colon;alert(1)', '\u0001javascript:alert(1)']) {
        assert.equal(md.safeHref(bad), null, JSON.stringify(bad))
    }
    for (const good of ['https://example.com/a?b=c#d', 'http://x', 'mailto:a@b.c', '/v1/topics', '#top', 'docs/x.md', '//cdn.example/x']) {
        assert.notEqual(md.safeHref(good), null, good)
    }
    assert.equal(html('[x](javascript:alert(1))'), '<p><span class="refused-link" title="link refused: javascript:alert(1)">x</span></p>')
    assert.equal(html('<javascript:alert(1)>'), '<p><span class="refused-link" title="link refused: javascript:alert(1)">javascript:alert(1)</span></p>')
})

test('only the unfinished tail is parsed again', () => {
    const text = DEMO.join('\n\n').repeat(20)
    const incremental = new md.IncrementalMarkdown()
    let renders = 0
    let frozenBlocks = 0
    for (let i = 0; i < text.length; i += 5) {
        incremental.append(text.slice(i, i + 5))
        const { frozen } = incremental.render()
        frozenBlocks += frozen.length
        renders++
    }
    const average = incremental.parsedCharacters / renders
    assert.ok(average < 400, `parsed ${average.toFixed(0)} characters per render for a ${text.length}-character text`)
    const { frozen } = incremental.render({ final: true })
    assert.equal(frozenBlocks + frozen.length, md.renderMarkdown(text).blocks.length)
})

// A minimal DOM, enough for toDOM and MarkdownView.
class FakeNode {
    constructor(document) {
        this.ownerDocument = document
        this.parentNode = null
        this.childNodes = []
    }
    appendChild(child) {
        child.remove()
        child.parentNode = this
        this.childNodes.push(child)
        return child
    }
    remove() {
        if (!this.parentNode) return
        this.parentNode.childNodes.splice(this.parentNode.childNodes.indexOf(this), 1)
        this.parentNode = null
    }
}
class FakeElement extends FakeNode {
    constructor(document, tag) {
        super(document)
        this.tag = tag
        this.attributes = []
    }
    setAttribute(name, value) {
        this.attributes.push([name, String(value)])
    }
    get html() {
        const attributes = this.attributes.map(([n, v]) => ` ${n}="${v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')}"`).join('')
        if (this.tag === 'hr' || this.tag === 'br') return `<${this.tag}${attributes}>`
        return `<${this.tag}${attributes}>${this.childNodes.map((c) => c.html).join('')}</${this.tag}>`
    }
    set innerHTML(_) {
        throw new Error('innerHTML is never used')
    }
}
class FakeText extends FakeNode {
    constructor(document, text) {
        super(document)
        this.text = text
    }
    get html() {
        return this.text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    }
}
class FakeDocument {
    createElement(tag) {
        return new FakeElement(this, tag)
    }
    createTextNode(text) {
        return new FakeText(this, text)
    }
}

test('MarkdownView: one render per frame, finished blocks stay the same elements', () => {
    const document = new FakeDocument()
    const root = document.createElement('div')
    const frames = []
    const renderTimes = []
    const view = new md.MarkdownView(root, { schedule: (f) => frames.push(f), onRender: (ms) => renderTimes.push(ms) })
    const text = DEMO[0]
    const firstLine = text.indexOf('\n') + 1
    for (let i = 0; i < firstLine; i++) view.append(text[i])
    assert.equal(frames.length, 1, 'one frame scheduled for many appends')
    frames.shift()()
    const heading = root.childNodes[0]
    assert.equal(heading.tag, 'h1')
    for (let i = firstLine; i < text.length; i += 7) {
        view.append(text.slice(i, i + 7))
        while (frames.length) frames.shift()()
    }
    assert.equal(root.childNodes[0], heading, 'the finished heading was not rebuilt')
    view.finish()
    assert.equal(root.childNodes.map((c) => c.html).join(''), html(text))
    assert.equal(renderTimes.length > 10, true)
    view.reset()
    assert.equal(root.childNodes.length, 0)
})
