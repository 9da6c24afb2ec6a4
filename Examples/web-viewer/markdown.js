// Incremental Markdown for streaming model output.
//
// A small CommonMark-like renderer of our own: paragraphs, ATX and setext headings, emphasis, inline
// code, links, lists (nested, tight and loose), block quotes, thematic breaks, fenced code blocks and
// GitHub-flavoured pipe tables (with the alignment row).
// Model output is text, never HTML: raw HTML and entities are shown literally, and links whose scheme
// is not http, https or mailto (javascript:, data:, vbscript:, …) are refused.
//
// How streaming works. The block parser reads complete lines, left to right, with a stack of open
// blocks (document › block quote › list › item › paragraph or code). After a line that leaves only the
// document open — a blank line between blocks, a closing fence, a heading — nothing that follows can
// change what came before: that point is a *checkpoint*. The blocks before the last checkpoint are
// rendered once and frozen; only the text after it (the unfinished tail) is parsed again when more
// text arrives. Because parsing restarts from an empty state at a checkpoint, rendering a text in any
// number of pieces gives exactly what rendering it whole gives.
//
// While the stream runs, the tail is rendered optimistically: an unclosed fence is a code block that
// grows; a partial last line made only of markup (`, ``, #, -, *, 1.) is held back until it is known
// what it is; an unclosed inline code span or emphasis at the end is shown as closed; a link whose
// destination is still arriving shows its text only; the last lines of an open paragraph that hold a
// `|` are held back (they may be a table's header and alignment rows). The final render (`final: true`) is plain
// CommonMark-like and does none of this.
//
// Output is a tree of plain arrays — [tag, attributes | null, ...children], children being strings
// or arrays — that `toDOM` turns into elements with createElement/createTextNode (never innerHTML)
// and `toHTML` serializes with escaping (for tests and non-browser use).

const PUNCTUATION = /[!-/:-@[-`{-~\u00a1-\u00bf\u2010-\u2027\u2030-\u205e\u3000-\u303f]/
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto'])

// ---------------------------------------------------------------------------------------------
// Blocks

function leadingSpaces(text, from = 0) {
    let i = from
    while (i < text.length && text[i] === ' ') i++
    return i - from
}

function isBlank(text) {
    return /^[ \t]*$/.test(text)
}

/** Expands tabs in the leading whitespace to 4-column stops (tabs inside text are kept). */
function expandLeadingTabs(line) {
    if (!line.includes('\t')) return line
    let out = ''
    let column = 0
    let i = 0
    for (; i < line.length; i++) {
        const c = line[i]
        if (c === ' ' || c === '>') {
            out += c
            column++
        } else if (c === '\t') {
            const n = 4 - (column % 4)
            out += ' '.repeat(n)
            column += n
        } else {
            break
        }
    }
    return out + line.slice(i)
}

function block(type, props) {
    return { type, children: [], open: true, ...props }
}

function canContain(parent, childType) {
    switch (parent.type) {
        case 'document':
        case 'blockquote':
        case 'item':
            return childType !== 'item'
        case 'list':
            return childType === 'item'
        default:
            return false
    }
}

const ATX_HEADING = /^(#{1,6})(?:[ \t]+|$)/
const FENCE_OPEN = /^(`{3,}|~{3,})(.*)$/
const THEMATIC_BREAK = /^(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$/
const SETEXT_UNDERLINE = /^(?:=+|-+)[ \t]*$/
const BULLET = /^([-+*])(?=[ \t]|$)/
const ORDERED = /^(\d{1,9})([.)])(?=[ \t]|$)/
// A partial last line made only of markup could still become anything: hold it back.
const PARTIAL_MARKUP = /^(?:[#*+\-_=`~]+|\d{1,9}[.)]?)$/
// A table's alignment row (GFM): cells of hyphens with optional colons, at least one pipe.
const TABLE_DELIMITER = /^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/
// Lines that end a table: the start of a block quote, a heading, a fence or a thematic break.
const TABLE_INTERRUPT = /^(?:>|#{1,6}(?:[ \t]|$)|`{3,}|~{3,})/

/**
 * The cells of a table row (GFM): split at pipes that are not escaped, the outer pipes optional,
 * each cell trimmed; `\|` stands for a pipe inside a cell (also inside code spans).
 */
export function tableCells(line) {
    let text = line.trim()
    if (text.startsWith('|')) text = text.slice(1)
    if (text.endsWith('|') && !text.endsWith('\\|')) text = text.slice(0, -1)
    const cells = []
    let cell = ''
    for (let i = 0; i < text.length; i++) {
        const c = text[i]
        if (c === '\\' && text[i + 1] === '|') {
            cell += '|'
            i++
        } else if (c === '|') {
            cells.push(cell.trim())
            cell = ''
        } else {
            cell += c
        }
    }
    cells.push(cell.trim())
    return cells
}

/** Whether a line holds a pipe that is not escaped (a possible table row). */
function hasPipe(line) {
    return /(?:^|[^\\])\|/.test(line)
}

/**
 * The line-by-line block parser. `lines` are fed in order; `partial` marks an unfinished last line
 * (streaming only). After each complete line, `checkpoint` tells whether only the document is open.
 */
class BlockParser {
    constructor() {
        this.document = block('document')
        this.stack = [this.document]
        this.lastLeaf = null
    }

    get tip() {
        return this.stack[this.stack.length - 1]
    }

    get atCheckpoint() {
        return this.stack.length === 1
    }

    closeTo(depth) {
        while (this.stack.length > depth) this.finalize(this.stack.pop())
    }

    finalize(b) {
        b.open = false
    }

    add(b) {
        while (!canContain(this.tip, b.type)) this.finalize(this.stack.pop())
        const parent = this.tip
        // Looseness: a block after a blank line inside an item, or an item after a blank line.
        if (parent.type === 'item' && parent.sawBlank && parent.children.length > 0) parent.list.loose = true
        if (parent.type === 'list' && b.type === 'item') {
            const previous = parent.children[parent.children.length - 1]
            if (previous && previous.sawBlank) parent.loose = true
            b.list = parent
        }
        parent.children.push(b)
        this.stack.push(b)
        return b
    }

    /** Processes one line (without its newline). Returns false if a partial line was held back. */
    line(raw, partial) {
        const accepted = this.processLine(expandLeadingTabs(raw), partial)
        // A blank line inside an item matters for looseness only until the item's next content.
        if (!isBlank(raw)) for (const b of this.stack) if (b.type === 'item') b.sawBlank = false
        return accepted
    }

    processLine(line, partial) {
        let pos = 0
        let depth = 1

        // 1. Which open blocks does this line continue?
        for (let i = 1; i < this.stack.length; i++) {
            const b = this.stack[i]
            const rest = line.slice(pos)
            if (b.type === 'blockquote') {
                const indent = leadingSpaces(rest)
                if (indent > 3 || rest[indent] !== '>') break
                pos += indent + 1
                if (line[pos] === ' ') pos++
            } else if (b.type === 'list') {
                // A list continues as long as one of its items does, or a new item starts.
            } else if (b.type === 'item') {
                if (isBlank(rest)) {
                    // a blank line stays inside the item
                } else if (leadingSpaces(rest) >= b.contentIndent) {
                    pos += b.contentIndent
                } else {
                    break
                }
            } else if (b.type === 'code') {
                const indent = leadingSpaces(rest)
                const text = rest.slice(indent)
                const closing = indent <= 3 && this.isClosingFence(text, b)
                if (closing && !partial) {
                    this.closeTo(i)
                    return true
                }
                if (partial && indent <= 3 && this.couldBeClosingFence(text, b)) return false
                let strip = 0
                while (strip < b.fenceIndent && rest[strip] === ' ') strip++
                b.lines.push(rest.slice(strip))
                return true
            } else if (b.type === 'paragraph') {
                if (isBlank(rest)) break
            } else if (b.type === 'table') {
                // A table goes on until a blank line or the start of another block; any other line is
                // a row, pipes or not.
                const text = rest.slice(Math.min(leadingSpaces(rest), 3))
                if (isBlank(rest) || leadingSpaces(rest) >= 4 || TABLE_INTERRUPT.test(text) || THEMATIC_BREAK.test(text)) break
                if (partial && PARTIAL_MARKUP.test(text)) return false
                b.rows.push(tableCells(text))
                b.partialRow = partial
                return true
            }
            depth = i + 1
        }

        // 2. Does the rest of the line start new blocks?
        for (;;) {
            const interrupting = this.tip.type === 'paragraph' && depth === this.stack.length
            const rest = line.slice(pos)
            const indent = leadingSpaces(rest)
            if (indent >= 4) break // no indented code blocks: such lines are text
            const text = rest.slice(indent)

            const fence = FENCE_OPEN.exec(text)
            if (fence && !(fence[1][0] === '`' && fence[2].includes('`'))) {
                this.closeTo(depth)
                const info = fence[2].trim()
                this.add(block('code', {
                    fenceChar: fence[1][0], fenceLength: fence[1].length, fenceIndent: indent,
                    info, lines: [],
                }))
                return true
            }
            if (partial && PARTIAL_MARKUP.test(text)) return false

            if (text[0] === '>') {
                this.closeTo(depth)
                this.add(block('blockquote'))
                depth = this.stack.length
                pos += indent + 1
                if (line[pos] === ' ') pos++
                continue
            }
            const heading = ATX_HEADING.exec(text)
            if (heading) {
                this.closeTo(depth)
                let content = text.slice(heading[0].length)
                content = content.replace(/(?:^|[ \t]+)#+[ \t]*$/, '').trim()
                const h = this.add(block('heading', { level: heading[1].length, text: content, partial }))
                this.lastLeaf = h
                this.closeTo(this.stack.length - 1)
                return true
            }
            if (interrupting && !partial && text.includes('|') && TABLE_DELIMITER.test(text)) {
                const paragraph = this.tip
                const header = tableCells(paragraph.lines[paragraph.lines.length - 1])
                const aligns = tableCells(text).map((cell) =>
                    cell.startsWith(':') && cell.endsWith(':') ? 'center' : cell.endsWith(':') ? 'right' : cell.startsWith(':') ? 'left' : null)
                if (header.length === aligns.length) {
                    // The paragraph's last line is the header; the lines before it stay a paragraph.
                    paragraph.lines.pop()
                    this.stack.pop()
                    if (paragraph.lines.length === 0) {
                        const siblings = this.tip.children
                        siblings.splice(siblings.indexOf(paragraph), 1)
                    } else {
                        this.finalize(paragraph)
                    }
                    const table = this.add(block('table', { header, aligns, rows: [], partialRow: false }))
                    this.lastLeaf = table
                    return true
                }
            }
            if (interrupting && SETEXT_UNDERLINE.test(text)) {
                const paragraph = this.tip
                paragraph.type = 'heading'
                paragraph.level = text[0] === '=' ? 1 : 2
                paragraph.text = paragraph.lines.join('\n')
                this.closeTo(this.stack.length - 1)
                return true
            }
            if (THEMATIC_BREAK.test(text)) {
                this.closeTo(depth)
                this.add(block('hr'))
                this.closeTo(this.stack.length - 1)
                return true
            }
            const bullet = BULLET.exec(text)
            const ordered = bullet ? null : ORDERED.exec(text)
            const marker = bullet || ordered
            if (marker) {
                const after = text.slice(marker[0].length)
                const empty = isBlank(after)
                const start = ordered ? parseInt(ordered[1], 10) : null
                // An empty item, or an ordered one not starting at 1, cannot interrupt a paragraph.
                if (!(interrupting && (empty || (ordered && start !== 1)))) {
                    const spaces = leadingSpaces(after.replace(/\t/g, '    '))
                    const padding = empty ? 1 : spaces >= 5 ? 1 : spaces
                    const kind = bullet ? 'bullet:' + bullet[1] : 'ordered:' + ordered[2]
                    this.closeTo(depth)
                    if (!(this.tip.type === 'list' && this.tip.kind === kind)) {
                        this.add(block('list', { kind, ordered: !!ordered, start, loose: false }))
                    }
                    this.add(block('item', { contentIndent: indent + marker[0].length + padding, sawBlank: false }))
                    depth = this.stack.length
                    pos = Math.min(line.length, pos + indent + marker[0].length + padding)
                    continue
                }
            }
            break
        }

        // 3. What is left is text (or a blank line).
        const rest = line.slice(pos)
        const blank = isBlank(rest)
        if (!blank && depth < this.stack.length && this.tip.type === 'paragraph') {
            // Lazy continuation: a paragraph goes on even without its container's markers.
            this.tip.lines.push(rest.replace(/^[ \t]+/, ''))
            this.lastLeaf = this.tip
            return true
        }
        this.closeTo(depth)
        if (blank) {
            for (const b of this.stack) if (b.type === 'item') b.sawBlank = true
            if (this.tip.type === 'paragraph') this.closeTo(this.stack.length - 1)
            return true
        }
        if (this.tip.type === 'paragraph') {
            this.tip.lines.push(rest.replace(/^[ \t]+/, ''))
        } else {
            this.add(block('paragraph', { lines: [rest.replace(/^[ \t]+/, '')] }))
        }
        this.lastLeaf = this.tip
        return true
    }

    isClosingFence(text, b) {
        const match = /^(`{3,}|~{3,})[ \t]*$/.exec(text)
        return !!match && match[1][0] === b.fenceChar && match[1].length >= b.fenceLength
    }

    couldBeClosingFence(text, b) {
        if (text === '') return true
        const run = text.replace(/[ \t]+$/, '')
        if (!/^(`+|~+)$/.test(run) || run[0] !== b.fenceChar) return false
        return run === text || run.length >= b.fenceLength
    }

    finish() {
        this.closeTo(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Inlines

function isWhitespace(c) {
    return c === undefined || /\s/.test(c)
}

function isPunctuation(c) {
    return c !== undefined && PUNCTUATION.test(c)
}

/** The href to use for a link destination, or null when its scheme is not allowed. */
export function safeHref(destination) {
    const unescaped = destination.replace(/\\([!-/:-@[-`{-~])/g, '$1').trim()
    // Browsers ignore ASCII whitespace and control characters inside a scheme ("java\tscript:").
    const squeezed = unescaped.replace(/[\u0000-\u0020\u007f-\u009f]/g, '')
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(squeezed)
    if (scheme && !SAFE_SCHEMES.has(scheme[1].toLowerCase())) return null
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*&/.test(squeezed) && /&(colon|#0*58|#x0*3a);?/i.test(squeezed)) return null
    return scheme ? squeezed : unescaped
}

/** Finds a backtick run of exactly `length` at or after `from`; returns its index or -1. */
function findBacktickRun(text, from, length) {
    let i = from
    while (i < text.length) {
        if (text[i] !== '`') {
            i++
            continue
        }
        let j = i
        while (j < text.length && text[j] === '`') j++
        if (j - i === length) return i
        i = j
    }
    return -1
}

/**
 * Parses `[label](destination "title")` at `start` (at `[` or `![`).
 * Returns { label, destination, end, image } on success, { partial: label } when the text ran out
 * before the link was complete, or null when it is not a link.
 */
function parseLink(text, start) {
    const image = text[start] === '!'
    const open = start + (image ? 2 : 1)
    let depth = 1
    let i = open
    while (i < text.length) {
        const c = text[i]
        if (c === '\\') {
            i += 2
            continue
        }
        if (c === '`') {
            let j = i
            while (j < text.length && text[j] === '`') j++
            const close = findBacktickRun(text, j, j - i)
            i = close < 0 ? j : close + (j - i)
            continue
        }
        if (c === '[') depth++
        if (c === ']' && --depth === 0) break
        i++
    }
    if (i >= text.length) return { partial: text.slice(open), image }
    const label = text.slice(open, i)
    if (i + 1 >= text.length) return { partial: label, image }
    if (text[i + 1] !== '(') return null
    let k = i + 2
    while (k < text.length && /[ \t\n]/.test(text[k])) k++
    let destination = ''
    if (text[k] === '<') {
        const close = text.indexOf('>', k + 1)
        const newline = text.indexOf('\n', k + 1)
        if (close < 0) return newline < 0 ? { partial: label, image } : null
        if (newline >= 0 && newline < close) return null
        destination = text.slice(k + 1, close)
        k = close + 1
    } else {
        let parens = 0
        const from = k
        while (k < text.length) {
            const c = text[k]
            if (c === '\\' && k + 1 < text.length) {
                k += 2
                continue
            }
            if (/[\s\u0000-\u001f]/.test(c)) break
            if (c === '(') parens++
            if (c === ')') {
                if (parens === 0) break
                parens--
            }
            k++
        }
        destination = text.slice(from, k)
    }
    while (k < text.length && /[ \t\n]/.test(text[k])) k++
    if (k < text.length && /["'(]/.test(text[k]) && k > 0 && /[ \t\n]/.test(text[k - 1])) {
        const closeChar = text[k] === '(' ? ')' : text[k]
        let j = k + 1
        while (j < text.length && text[j] !== closeChar) j += text[j] === '\\' ? 2 : 1
        if (j >= text.length) return { partial: label, image }
        k = j + 1
        while (k < text.length && /[ \t\n]/.test(text[k])) k++
    }
    if (k >= text.length) return { partial: label, image }
    if (text[k] !== ')') return null
    return { label, destination, end: k + 1, image }
}

/**
 * Parses inline Markdown into nodes. `streaming` renders an unfinished end optimistically.
 */
export function parseInline(text, streaming = false) {
    const tokens = []
    const pushText = (s) => {
        if (s === '') return
        const last = tokens[tokens.length - 1]
        if (last && last.kind === 'text') last.text += s
        else tokens.push({ kind: 'text', text: s })
    }
    let i = 0
    let plainStart = 0
    const flush = () => {
        pushText(text.slice(plainStart, i))
    }
    const special = /[\\`[!<*_\n]/g
    scan: while (i < text.length) {
        special.lastIndex = i
        const found = special.exec(text)
        if (!found) {
            i = text.length
            break
        }
        i = found.index
        const c = text[i]
        if (c === '\\') {
            flush()
            const next = text[i + 1]
            if (next === undefined) {
                if (!streaming) pushText('\\')
                i += 1
            } else if (next === '\n') {
                tokens.push({ kind: 'node', node: ['br', null] })
                i += 2
            } else if (isPunctuation(next) && next.charCodeAt(0) < 128) {
                pushText(next)
                i += 2
            } else {
                pushText('\\')
                i += 1
            }
            plainStart = i
        } else if (c === '`') {
            flush()
            let j = i
            while (j < text.length && text[j] === '`') j++
            const length = j - i
            const close = findBacktickRun(text, j, length)
            if (close >= 0) {
                tokens.push({ kind: 'node', node: ['code', null, codeSpanContent(text.slice(j, close))] })
                i = close + length
            } else if (streaming) {
                // An unclosed span at the end of a streaming text: show it as code already.
                const content = text.slice(j)
                if (content !== '') tokens.push({ kind: 'node', node: ['code', null, content.replace(/\n/g, ' ')] })
                i = text.length
                plainStart = i
                break scan
            } else {
                pushText(text.slice(i, j))
                i = j
            }
            plainStart = i
        } else if (c === '[' || (c === '!' && text[i + 1] === '[')) {
            const link = parseLink(text, i)
            if (link && link.partial === undefined) {
                flush()
                tokens.push({ kind: 'node', node: linkNode(link) })
                i = link.end
                plainStart = i
            } else if (link && link.partial !== undefined && streaming) {
                // The link is still arriving: show its text, not its markup.
                flush()
                for (const node of parseInline(link.partial, true)) {
                    if (typeof node === 'string') pushText(node)
                    else tokens.push({ kind: 'node', node })
                }
                i = text.length
                plainStart = i
                break scan
            } else {
                i += c === '!' ? 2 : 1
            }
        } else if (c === '!') {
            i += 1
        } else if (c === '<') {
            const auto = /^<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^<>\u0000-\u0020]*)>/.exec(text.slice(i))
            if (auto) {
                flush()
                const href = safeHref(auto[1])
                tokens.push({
                    kind: 'node',
                    node: href === null ? refusedLink([auto[1]], auto[1]) : ['a', linkAttributes(href), auto[1]],
                })
                i += auto[0].length
                plainStart = i
            } else {
                i += 1
            }
        } else if (c === '\n') {
            flush()
            const last = tokens[tokens.length - 1]
            let hard = false
            if (last && last.kind === 'text') {
                const trimmed = last.text.replace(/ +$/, '')
                hard = last.text.length - trimmed.length >= 2
                last.text = trimmed
                if (last.text === '') tokens.pop()
            }
            tokens.push(hard ? { kind: 'node', node: ['br', null] } : { kind: 'text', text: '\n' })
            i += 1
            plainStart = i
        } else {
            // * or _: a delimiter run (CommonMark's flanking rules).
            flush()
            let j = i
            while (j < text.length && text[j] === c) j++
            const before = text[i - 1]
            const after = text[j]
            const left = !isWhitespace(after) && (!isPunctuation(after) || isWhitespace(before) || isPunctuation(before))
            const right = !isWhitespace(before) && (!isPunctuation(before) || isWhitespace(after) || isPunctuation(after))
            const canOpen = c === '*' ? left : left && (!right || isPunctuation(before))
            const canClose = c === '*' ? right : right && (!left || isPunctuation(after))
            tokens.push({ kind: 'delimiter', char: c, count: j - i, original: j - i, canOpen, canClose })
            i = j
            plainStart = i
        }
    }
    flush()
    const last = tokens[tokens.length - 1]
    if (streaming && last && last.kind === 'delimiter') {
        // A run at the very end may still grow (* → **) or be a closer still arriving: hold it back.
        last.count = 0
        last.canOpen = last.canClose = false
    }
    processEmphasis(tokens)
    if (streaming) closeOptimistically(tokens)
    return toNodes(tokens)
}

function codeSpanContent(raw) {
    const content = raw.replace(/\n/g, ' ')
    if (content.length >= 2 && content[0] === ' ' && content[content.length - 1] === ' ' && /[^ ]/.test(content)) {
        return content.slice(1, -1)
    }
    return content
}

function linkAttributes(href) {
    return { href, rel: 'noopener noreferrer nofollow', target: '_blank' }
}

function refusedLink(children, destination) {
    return ['span', { class: 'refused-link', title: 'link refused: ' + destination.slice(0, 80) }, ...children]
}

function linkNode(link) {
    const href = safeHref(link.destination)
    const children = parseInline(link.label, false)
    if (href === null) return refusedLink(children, link.destination)
    // Images are shown as links: model output does not get to load resources into the page.
    if (link.image) return ['a', { ...linkAttributes(href), class: 'image-link' }, ...children]
    return ['a', linkAttributes(href), ...children]
}

// The "process emphasis" procedure of CommonMark, with a bounded look-back so a paragraph full of
// asterisks cannot make rendering quadratic.
function processEmphasis(tokens) {
    for (let c = 0; c < tokens.length; c++) {
        const closer = tokens[c]
        if (closer.kind !== 'delimiter' || !closer.canClose || closer.count === 0) continue
        let opener = -1
        for (let o = c - 1, looked = 0; o >= 0 && looked < 200; o--) {
            const candidate = tokens[o]
            if (candidate.kind !== 'delimiter') continue
            looked++
            if (candidate.char !== closer.char || !candidate.canOpen || candidate.count === 0) continue
            const oddMatch = (candidate.canClose || closer.canOpen) &&
                (candidate.original + closer.original) % 3 === 0 &&
                !(candidate.original % 3 === 0 && closer.original % 3 === 0)
            if (oddMatch) continue
            opener = o
            break
        }
        if (opener < 0) continue
        const open = tokens[opener]
        const use = open.count >= 2 && closer.count >= 2 ? 2 : 1
        open.count -= use
        closer.count -= use
        const inner = tokens.splice(opener + 1, c - opener - 1)
        tokens.splice(opener + 1, 0, { kind: 'node', node: [use === 2 ? 'strong' : 'em', null, ...toNodes(inner)] })
        c = opener + 1
    }
}

// Streaming only: an opener left unmatched at the end (at the start of a word) emphasizes the rest.
function closeOptimistically(tokens) {
    for (let o = tokens.length - 1; o >= 0; o--) {
        const open = tokens[o]
        if (open.kind !== 'delimiter' || open.count === 0 || !open.canOpen || open.canClose) continue
        const inner = tokens.splice(o + 1)
        const count = open.count
        open.count = 0
        const children = toNodes(inner)
        if (children.length === 0) continue
        let node = count >= 2 ? ['strong', null, ...children] : ['em', null, ...children]
        if (count >= 3) node = ['em', null, node]
        tokens.push({ kind: 'node', node })
    }
}

function toNodes(tokens) {
    const nodes = []
    for (const token of tokens) {
        let value
        if (token.kind === 'text') value = token.text
        else if (token.kind === 'delimiter') value = token.char.repeat(token.count)
        else value = token.node
        if (typeof value === 'string') {
            if (value === '') continue
            if (typeof nodes[nodes.length - 1] === 'string') nodes[nodes.length - 1] += value
            else nodes.push(value)
        } else {
            nodes.push(value)
        }
    }
    return nodes
}

// ---------------------------------------------------------------------------------------------
// Rendering blocks

function renderBlock(b, streaming, tight) {
    switch (b.type) {
        case 'paragraph': {
            let lines = b.lines
            if (streaming && b.open) {
                // The last two lines may be a table's header and alignment rows still arriving: hold
                // back those that hold a pipe until the next line decides.
                let keep = lines.length
                while (keep > 0 && keep > lines.length - 2 && hasPipe(lines[keep - 1])) keep--
                lines = lines.slice(0, keep)
                if (lines.length === 0) return []
            }
            const text = lines.join('\n').replace(/[ \t]+$/, '')
            const children = parseInline(text, streaming && b.open)
            return tight ? children : [['p', null, ...children]]
        }
        case 'table': {
            const cell = (tag, content, column, optimistic) => {
                const align = b.aligns[column]
                return [tag, align ? { 'data-align': align } : null, ...parseInline(content ?? '', optimistic)]
            }
            const head = ['thead', null, ['tr', null, ...b.header.map((content, column) => cell('th', content, column, false))]]
            const rows = b.rows.map((row, index) => {
                const optimistic = streaming && b.open && b.partialRow && index === b.rows.length - 1
                return ['tr', null, ...b.header.map((_, column) => cell('td', row[column], column, optimistic))]
            })
            return [['table', null, head, ...(rows.length ? [['tbody', null, ...rows]] : [])]]
        }
        case 'heading':
            return [['h' + b.level, null, ...parseInline(b.text, streaming && b.partial)]]
        case 'hr':
            return [['hr', null]]
        case 'code': {
            const attributes = {}
            const language = (b.info.split(/\s+/)[0] || '').replace(/[^\w+#.-]/g, '').slice(0, 32)
            if (language) attributes['data-lang'] = language
            if (streaming && b.open) attributes['data-open'] = ''
            return [['pre', Object.keys(attributes).length ? attributes : null,
                ['code', language ? { class: 'language-' + language } : null, b.lines.join('\n')]]]
        }
        case 'blockquote':
            return [['blockquote', null, ...renderBlocks(b.children, streaming, false)]]
        case 'list': {
            const attributes = b.ordered && b.start !== 1 ? { start: String(b.start) } : null
            const items = b.children.map((item) => ['li', null, ...renderBlocks(item.children, streaming, !b.loose)])
            return [[b.ordered ? 'ol' : 'ul', attributes, ...items]]
        }
        default:
            return []
    }
}

function renderBlocks(blocks, streaming, tight) {
    const out = []
    for (const b of blocks) {
        out.push(...renderBlock(b, streaming, tight))
    }
    return out
}

/**
 * Parses `text` and renders its top-level blocks.
 * - Parameters: `final` false renders an unfinished stream (optimistic tail, partial last line).
 * - Returns: { blocks, checkpoint: { offset, count } } — `count` blocks end before `offset`, the
 *   position just after the last line that closed every block (0 if none).
 */
export function renderMarkdown(text, { final = true } = {}) {
    const parser = new BlockParser()
    let checkpoint = { offset: 0, count: 0 }
    let start = 0
    while (start < text.length) {
        const newline = text.indexOf('\n', start)
        if (newline < 0) {
            parser.line(text.slice(start).replace(/\r$/, ''), !final)
            break
        }
        parser.line(text.slice(start, newline).replace(/\r$/, ''), false)
        start = newline + 1
        if (parser.atCheckpoint) checkpoint = { offset: start, count: parser.document.children.length }
    }
    if (final) parser.finish()
    const blocks = parser.document.children.map((b) => renderBlock(b, !final, false)[0]).filter(Boolean)
    return { blocks, checkpoint }
}

/**
 * Markdown that arrives in pieces. `render` returns the blocks that just became final (to append
 * once, and never touch again) and the unfinished tail (to replace on every render).
 */
export class IncrementalMarkdown {
    constructor() {
        this.source = ''
        this.frozenOffset = 0
        this.parsedCharacters = 0
    }

    append(text) {
        this.source += text
    }

    get text() {
        return this.source
    }

    /** - Returns: { frozen: blocks to append for good, tail: blocks that replace the previous tail }. */
    render({ final = false } = {}) {
        const pending = this.source.slice(this.frozenOffset)
        this.parsedCharacters += pending.length
        const { blocks, checkpoint } = renderMarkdown(pending, { final })
        if (final) {
            this.frozenOffset = this.source.length
            return { frozen: blocks, tail: [] }
        }
        this.frozenOffset += checkpoint.offset
        return { frozen: blocks.slice(0, checkpoint.count), tail: blocks.slice(checkpoint.count) }
    }
}

// ---------------------------------------------------------------------------------------------
// Output

const ALLOWED_TAGS = new Set([
    'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'em', 'strong', 'code', 'pre', 'a', 'ul', 'ol', 'li',
    'blockquote', 'hr', 'br', 'span', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
])
const ALLOWED_ATTRIBUTES = new Set([
    'href', 'rel', 'target', 'title', 'class', 'start', 'data-lang', 'data-open', 'data-align',
])

/** Builds DOM nodes for a rendered node (createElement and text nodes only, never innerHTML). */
export function toDOM(node, document = globalThis.document) {
    if (typeof node === 'string') return document.createTextNode(node)
    const [tag, attributes, ...children] = node
    if (!ALLOWED_TAGS.has(tag)) throw new Error('unexpected tag ' + tag)
    const element = document.createElement(tag)
    if (attributes) {
        for (const [name, value] of Object.entries(attributes)) {
            if (ALLOWED_ATTRIBUTES.has(name)) element.setAttribute(name, value)
        }
    }
    for (const child of children) element.appendChild(toDOM(child, document))
    return element
}

function escapeHTML(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Serializes a list of rendered nodes as HTML, everything escaped. */
export function toHTML(nodes) {
    return nodes.map(nodeToHTML).join('')
}

function nodeToHTML(node) {
    if (typeof node === 'string') return escapeHTML(node)
    const [tag, attributes, ...children] = node
    let html = '<' + tag
    if (attributes) for (const [name, value] of Object.entries(attributes)) html += ` ${name}="${escapeHTML(String(value))}"`
    html += '>'
    if (tag === 'hr' || tag === 'br') return html
    return html + children.map(nodeToHTML).join('') + '</' + tag + '>'
}

/** Plain text of rendered nodes (what a reader sees, roughly). */
export function toText(nodes) {
    return nodes.map((node) => (typeof node === 'string' ? node : toText(node.slice(2)))).join('')
}

/**
 * Shows Markdown that streams into an element. Text is appended at any rate; rendering happens at
 * most once per animation frame, and only the unfinished tail's elements are replaced: finished
 * blocks are appended once and never rebuilt.
 */
export class MarkdownView {
    /**
     * - Parameters:
     *   - element: The container; its children are managed by the view.
     *   - schedule: How to wait for the next frame (requestAnimationFrame by default).
     *   - onRender: Called after each render with the time it took in milliseconds.
     */
    constructor(element, { schedule = (f) => requestAnimationFrame(f), onRender = null } = {}) {
        this.element = element
        this.schedule = schedule
        this.onRender = onRender
        this.markdown = new IncrementalMarkdown()
        this.tailNodes = []
        this.scheduled = false
        this.finished = false
    }

    get text() {
        return this.markdown.text
    }

    /** Adds text; it is rendered on the next frame. */
    append(text) {
        if (this.finished || text === '') return
        this.markdown.append(text)
        if (!this.scheduled) {
            this.scheduled = true
            this.schedule(() => this.flush())
        }
    }

    /** Renders what arrived since the last frame. */
    flush() {
        this.scheduled = false
        if (this.finished) return
        this.renderNow(false)
    }

    /** The text is complete: renders it for good (now). */
    finish() {
        if (this.finished) return
        this.renderNow(true)
        this.finished = true
    }

    renderNow(final) {
        const started = typeof performance !== 'undefined' ? performance.now() : Date.now()
        const { frozen, tail } = this.markdown.render({ final })
        const document = this.element.ownerDocument
        for (const node of this.tailNodes) node.remove()
        this.tailNodes = []
        for (const node of frozen) this.element.appendChild(toDOM(node, document))
        for (const node of tail) {
            const element = toDOM(node, document)
            this.element.appendChild(element)
            this.tailNodes.push(element)
        }
        if (this.onRender) this.onRender((typeof performance !== 'undefined' ? performance.now() : Date.now()) - started)
    }

    /** Stops rendering, leaving the element as it is (the view is being thrown away). */
    close() {
        this.finished = true
    }

    /** Forgets everything (for a rebuild after a lost resume point). */
    reset() {
        for (const child of [...this.element.childNodes]) child.remove()
        this.markdown = new IncrementalMarkdown()
        this.tailNodes = []
        this.finished = false
    }
}
