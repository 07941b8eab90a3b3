// The rationale of an LLM learning path reaches the learner as the model wrote it. The prompt
// asks for a short text "without scores or ids"; these checks hold the model to the parts of
// that a machine can tell apart from prose, so that a model echoing its input (or a summary
// that carried instructions) gets the repair round, then the rules' rationale, instead of
// reaching a learner as "</learner_summary> [{"itemId":…".

// The prompt's own markup: the tags around the data and the keys of the candidate JSON.
const PROMPT_MARKUP = /<\/?\s*(learner_summary|candidates)\b|"(itemId|title|kind|skills|score|reasons)"\s*:/i;

// An id like "fractions-intro-lesson" is not prose; an id that is one plain word ("algebra")
// cannot be told from prose, so only ids with a digit or a separator in them are looked for.
const ID_LIKE = /[^A-Za-z]/;
const ID_CHAR = /[A-Za-z0-9_.:\/-]/;

export function rationaleProblems(rationale: string, candidateIds: Iterable<string>): string[] {
  const problems: string[] = [];
  if (rationale.replace(/[\s\p{Cf}]/gu, '').length === 0) problems.push('rationale is empty');
  if (PROMPT_MARKUP.test(rationale)) problems.push('rationale quotes the prompt (its tags or candidate JSON)');
  for (const id of candidateIds) {
    if (ID_LIKE.test(id) && containsToken(rationale, id)) {
      problems.push(`rationale names the item id '${id}' (ids are not for learners)`);
      break;
    }
  }
  return problems;
}

// `id` as a whole token: "practice-1" must not match inside "practice-10".
function containsToken(text: string, id: string): boolean {
  for (let at = text.indexOf(id); at !== -1; at = text.indexOf(id, at + 1)) {
    const before = at > 0 ? text[at - 1]! : '';
    const after = text[at + id.length] ?? '';
    if (!ID_CHAR.test(before) && !ID_CHAR.test(after)) return true;
  }
  return false;
}
