/**
 * A tiny XML writer for Query-protocol responses. Values map to elements by key; an array under a
 * key repeats the element (so `{item: [a, b]}` writes two `<item>`s), `undefined`/`null` are
 * omitted, an empty object writes a self-closing element (how AWS writes empty lists).
 */

/** A value the writer understands. */
export type XmlValue = string | number | boolean | Date | undefined | null | XmlObject | XmlValue[]
/** An element's children by name. */
export interface XmlObject {
  [name: string]: XmlValue
}

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;'
      case '<':
        return '&lt;'
      case '>':
        return '&gt;'
      case '"':
        return '&quot;'
      default:
        return '&apos;'
    }
  })
}

/** Writes `<name>value</name>` (or the repetition/omission rules above). */
export function xmlElement(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.map((v) => xmlElement(name, v)).join('')
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`
  if (typeof value === 'object') {
    const inner = Object.entries(value)
      .map(([k, v]) => xmlElement(k, v))
      .join('')
    return inner === '' ? `<${name}/>` : `<${name}>${inner}</${name}>`
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`
}

/** A whole document with an XML declaration and the root's `xmlns`. */
export function xmlDocument(root: string, xmlns: string | undefined, body: XmlObject): string {
  const inner = Object.entries(body)
    .map(([k, v]) => xmlElement(k, v))
    .join('')
  const ns = xmlns ? ` xmlns="${escapeXml(xmlns)}"` : ''
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${inner}</${root}>`
}

/** EC2-style list: `{item: [...]}`; an empty list writes `<name/>`. */
export function ec2List<T>(values: Iterable<T>, map: (v: T) => XmlValue): XmlObject {
  return {item: [...values].map(map)}
}

/** IAM/STS-style list: `{member: [...]}`. */
export function memberList<T>(values: Iterable<T>, map: (v: T) => XmlValue): XmlObject {
  return {member: [...values].map(map)}
}

/** ISO-8601 without milliseconds, as IAM and STS write timestamps. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.[0-9]{3}Z$/, 'Z')
}
