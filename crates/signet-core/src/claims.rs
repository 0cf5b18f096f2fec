//! Claim-mapping expressions: what an ExpressionAdmin writes to compute a
//! custom claim from an account's attributes when a token is issued, and the
//! sandbox that runs them.
//!
//! An expression is a short Rhai script. The sandbox can only compute: there
//! are no loops, script functions, closures, modules, `eval`, exceptions,
//! clock or output, and every run is capped in operations and in the size of
//! every string, array and map it builds. Length and bracket nesting are
//! checked before the parser sees the text, so hostile input is refused
//! cheaply and can never recurse deep enough to overflow a stack. Nothing here
//! panics on any input: every way an expression can fail is a [`ClaimError`]
//! an administrator can act on.
//!
//! A claim's name is checked separately ([`validate_claim_name`]): an
//! expression can never set a protocol claim, nor one that grants roles.

mod name;
mod value;

use std::panic::{AssertUnwindSafe, catch_unwind};

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{AST, Dynamic, Engine, EvalAltResult, ParseError, ParseErrorType, Position, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use name::{MAX_CLAIM_NAME_CHARS, validate_claim_name};
pub use value::MAX_VALUE_DEPTH;

/// Longest expression accepted, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 4096;
/// Deepest nesting of `(`, `[` and `{` accepted, counted before parsing.
pub const MAX_BRACKET_DEPTH: usize = 32;
/// Operations one evaluation may run (Rhai counts each expression node and
/// call). Without loops, the longest expression runs about 3,700; a claim
/// needs a few dozen. Set below that, so the limit is one a test can reach
/// rather than one nothing ever meets.
pub const MAX_OPERATIONS: u64 = 2_000;
/// Bytes of string data in any one value an expression builds.
pub const MAX_STRING_BYTES: usize = 4096;
/// Elements in any one array an expression builds, nested arrays included.
pub const MAX_ARRAY_LEN: usize = 256;
/// Entries in any one map an expression builds, nested maps included.
pub const MAX_MAP_LEN: usize = 256;
/// Largest claim value, serialised as JSON.
pub const MAX_RESULT_BYTES: usize = 8192;

/// Rhai's own parse-depth limit: each bracket costs it a few levels, so this
/// sits well above [`MAX_BRACKET_DEPTH`] and catches what brackets do not
/// (long chains of unary operators, `else if` ladders).
const MAX_PARSE_DEPTH: usize = 128;
/// Variables in scope at once, the three inputs included.
const MAX_VARIABLES: usize = 64;

/// Keywords a claim expression has no use for, refused by the parser. Loops
/// are also switched off through `set_allow_looping`; naming them here gives
/// the administrator the keyword in the error.
const DISABLED_SYMBOLS: &[&str] = &[
    "while",
    "loop",
    "for",
    "do",
    "until",
    "break",
    "continue",
    "eval",
    "try",
    "catch",
    "throw",
    "Fn",
    "call",
    "curry",
    "print",
    "debug",
    "is_def_fn",
    "is_shared",
    "this",
];

/// What an ExpressionAdmin writes: the claim to set and the expression that
/// computes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    pub claim: String,
    pub expression: String,
}

/// What an expression sees, as three constants:
///
/// - `user`: a map of `id`, `username`, `email` (`()` when unknown) and
///   `attributes`, the account's custom attributes (any JSON, nested up to
///   [`MAX_VALUE_DEPTH`]);
/// - `client`: a map of `id`, the OAuth client the token is issued to;
/// - `scope`: an array of the granted scope values.
///
/// A missing property reads as `()`: `user.attributes.department` is `()`
/// for an account without a department, and `user.attributes.department ?? "none"`
/// supplies a default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaimInput {
    pub user: ClaimUser,
    pub client: ClaimClient,
    pub scope: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaimUser {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub attributes: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaimClient {
    pub id: String,
}

impl ClaimInput {
    /// A made-up account, for previewing an expression before it is saved
    /// and for fuzzing.
    pub fn example() -> ClaimInput {
        let attributes = serde_json::json!({
            "department": "eng",
            "employee_number": 4711,
            "cost_share": 0.5,
            "contractor": false,
            "locations": ["Berlin", "Lisbon"],
            "manager": { "username": "grace", "level": 7 },
            "nickname": null,
        });
        ClaimInput {
            user: ClaimUser {
                id: "0d3c1f6e-5b8a-4f0e-9c57-2a7f4b1e9d21".into(),
                username: "ada".into(),
                email: Some("ada@example.com".into()),
                attributes: match attributes {
                    Value::Object(map) => map,
                    _ => serde_json::Map::new(),
                },
            },
            client: ClaimClient { id: "billing-web".into() },
            scope: vec!["openid".into(), "profile".into()],
        }
    }
}

/// Why an expression or a claim name was refused, or why an evaluation
/// failed. Its `Display` is written for the administrator who wrote the
/// expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the claim name is empty")]
    EmptyName,
    #[error("the claim name is longer than {MAX_CLAIM_NAME_CHARS} characters")]
    NameTooLong,
    #[error("the claim name `{0}` may only use letters, digits, `_`, `.`, `:` and `-`")]
    NameCharacters(String),
    #[error("`{0}` is reserved for signet and the protocols it speaks; an expression cannot set it")]
    ReservedName(String),
    #[error("`{name}` names {what}; an expression cannot grant them")]
    GrantingName { name: String, what: &'static str },
    #[error("the expression is empty")]
    EmptyExpression,
    #[error("the expression is longer than {MAX_EXPRESSION_CHARS} characters")]
    ExpressionTooLong,
    #[error("the expression nests brackets deeper than {MAX_BRACKET_DEPTH} levels")]
    NestedTooDeep,
    #[error("syntax error{at}: {message}")]
    Syntax { at: At, message: String },
    #[error("the expression is nested or chained too deeply to parse{at}; split it up with `let`")]
    TooComplex { at: At },
    #[error("the expression ran more than {MAX_OPERATIONS} operations")]
    TooManyOperations,
    #[error(
        "{what} grew past its limit{at} (strings {MAX_STRING_BYTES} bytes, \
         arrays {MAX_ARRAY_LEN} and maps {MAX_MAP_LEN} entries, nested ones included)"
    )]
    TooLarge { what: &'static str, at: At },
    #[error("evaluation failed{at}: {message}")]
    Evaluation { at: At, message: String },
    #[error("the account's attributes nest deeper than {MAX_VALUE_DEPTH} levels")]
    InputTooDeep,
    #[error("the result is a {0}, which cannot be a claim value: use a string, number, boolean, array or map")]
    UnsupportedResult(String),
    #[error("the result is not a finite number")]
    NotFinite,
    #[error("the result nests arrays and maps deeper than {MAX_VALUE_DEPTH} levels")]
    ResultTooDeep,
    #[error("the result is larger than {MAX_RESULT_BYTES} bytes as JSON")]
    ResultTooLarge,
    /// The engine itself failed; this is a bug in signet or Rhai, never the
    /// expression's fault.
    #[error("the expression engine failed; this is a bug, please report it")]
    Internal,
    #[error("claim `{claim}`: {source}")]
    InClaim { claim: String, source: Box<ClaimError> },
}

/// Where in an expression something went wrong: `" at line 1, position 3"`,
/// or nothing when Rhai does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct At {
    pub line: Option<usize>,
    pub position: Option<usize>,
}

impl From<Position> for At {
    fn from(pos: Position) -> At {
        At { line: pos.line(), position: pos.position() }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.position) {
            (Some(line), Some(position)) => write!(f, " at line {line}, position {position}"),
            (Some(line), None) => write!(f, " at line {line}"),
            _ => Ok(()),
        }
    }
}

/// A compiled expression. It holds no engine: evaluate it with any
/// [`ClaimEngine`], since they are all configured alike.
#[derive(Clone)]
pub struct Expression {
    ast: AST,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression").finish_non_exhaustive()
    }
}

/// A mapping whose name was checked and whose expression compiled.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    claim: String,
    expression: Expression,
}

impl CompiledMapping {
    pub fn claim(&self) -> &str {
        &self.claim
    }

    pub fn expression(&self) -> &Expression {
        &self.expression
    }
}

/// The sandbox. Build one when signetd starts and share it (it is `Send` and
/// `Sync`); building one registers the few packages expressions may use.
pub struct ClaimEngine {
    engine: Engine,
}

impl std::fmt::Debug for ClaimEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimEngine").finish_non_exhaustive()
    }
}

impl Default for ClaimEngine {
    fn default() -> Self {
        ClaimEngine::new()
    }
}

impl ClaimEngine {
    pub fn new() -> ClaimEngine {
        // A raw engine has no functions at all; register only computation:
        // no `sleep`, `exit`, `parse_json`, iterators, clock or blobs.
        let mut engine = Engine::new_raw();
        for package in [
            ArithmeticPackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
            BasicStringPackage::new().as_shared_module(),
            MoreStringPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
        ] {
            engine.register_global_module(package);
        }
        engine
            .set_max_expr_depths(MAX_PARSE_DEPTH)
            .set_max_operations(MAX_OPERATIONS)
            .set_max_string_size(MAX_STRING_BYTES)
            .set_max_array_size(MAX_ARRAY_LEN)
            .set_max_map_size(MAX_MAP_LEN)
            .set_max_variables(MAX_VARIABLES)
            .set_allow_looping(false)
            .set_strict_variables(true)
            .on_print(|_| {})
            .on_debug(|_, _, _| {});
        for symbol in DISABLED_SYMBOLS {
            engine.disable_symbol(*symbol);
        }
        ClaimEngine { engine }
    }

    /// Compiles an expression. Its length and bracket nesting are checked
    /// before it is parsed, and every variable it reads must be one of
    /// [`ClaimInput`]'s.
    pub fn compile(&self, source: &str) -> Result<Expression, ClaimError> {
        check_shape(source)?;
        let scope = input_scope(Dynamic::UNIT, Dynamic::UNIT, Dynamic::UNIT);
        let ast = guard(|| self.engine.compile_with_scope(&scope, source))?.map_err(syntax_error)?;
        Ok(Expression { ast })
    }

    /// Checks a mapping's claim name and compiles its expression.
    pub fn compile_mapping(&self, mapping: &ClaimMapping) -> Result<CompiledMapping, ClaimError> {
        let in_claim = |source| ClaimError::InClaim { claim: mapping.claim.clone(), source: Box::new(source) };
        validate_claim_name(&mapping.claim).map_err(in_claim)?;
        let expression = self.compile(&mapping.expression).map_err(in_claim)?;
        Ok(CompiledMapping { claim: mapping.claim.clone(), expression })
    }

    /// Runs an expression against one account. `None` means the expression
    /// gave `()`: the claim is left out of the token rather than set to
    /// `null` (OpenID Connect Core §5.3.2).
    pub fn evaluate(&self, expression: &Expression, input: &ClaimInput) -> Result<Option<Value>, ClaimError> {
        let mut scope = self.scope_for(input)?;
        self.run(expression, &mut scope)
    }

    /// Computes every mapped claim for one account, in order. The first
    /// failure stops the computation and names its claim; the caller decides
    /// whether to issue the token without custom claims or to refuse it.
    pub fn claims(
        &self,
        mappings: &[CompiledMapping],
        input: &ClaimInput,
    ) -> Result<serde_json::Map<String, Value>, ClaimError> {
        let base = self.scope_for(input)?;
        let mut claims = serde_json::Map::new();
        for mapping in mappings {
            let mut scope = base.clone();
            let value = self
                .run(&mapping.expression, &mut scope)
                .map_err(|source| ClaimError::InClaim { claim: mapping.claim.clone(), source: Box::new(source) })?;
            if let Some(value) = value {
                claims.insert(mapping.claim.clone(), value);
            }
        }
        Ok(claims)
    }

    /// Compiles and runs an expression in one step: what an administrator's
    /// preview does, and what the fuzz target drives.
    pub fn try_expression(&self, source: &str, input: &ClaimInput) -> Result<Option<Value>, ClaimError> {
        let expression = self.compile(source)?;
        self.evaluate(&expression, input)
    }

    fn scope_for(&self, input: &ClaimInput) -> Result<Scope<'static>, ClaimError> {
        let (user, client, scope) = value::input_values(input)?;
        Ok(input_scope(user, client, scope))
    }

    fn run(&self, expression: &Expression, scope: &mut Scope<'static>) -> Result<Option<Value>, ClaimError> {
        let result = guard(|| self.engine.eval_ast_with_scope::<Dynamic>(scope, &expression.ast))?;
        let result = result.map_err(|e| evaluation_error(*e))?;
        // Rhai checks a compound assignment's target before the next use, not
        // after the assignment, so the last one can leave a value past the
        // limits (`a += a` doubles it): check the result itself.
        self.engine.ensure_data_size_within_limits(&result).map_err(|e| evaluation_error(*e))?;
        let value = value::to_json(result).map_err(|err| match err {
            ClaimError::UnsupportedResult(name) => {
                ClaimError::UnsupportedResult(self.engine.map_type_name(&name).to_owned())
            }
            other => other,
        })?;
        let Some(value) = value else { return Ok(None) };
        match serde_json::to_vec(&value) {
            Ok(bytes) if bytes.len() <= MAX_RESULT_BYTES => Ok(Some(value)),
            _ => Err(ClaimError::ResultTooLarge),
        }
    }
}

/// The variables of [`ClaimInput`], as constants so an expression cannot
/// assign to them.
fn input_scope(user: Dynamic, client: Dynamic, scope: Dynamic) -> Scope<'static> {
    let mut vars = Scope::new();
    vars.push_constant_dynamic("user", user);
    vars.push_constant_dynamic("client", client);
    vars.push_constant_dynamic("scope", scope);
    vars
}

/// The checks made before parsing: cheap, linear, and enough to keep the
/// parser's recursion shallow whatever the input.
fn check_shape(source: &str) -> Result<(), ClaimError> {
    // A char is at most 4 bytes: anything longer than this is too long
    // without counting.
    if source.len() > MAX_EXPRESSION_CHARS * 4 || source.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(ClaimError::ExpressionTooLong);
    }
    if source.trim().is_empty() {
        return Err(ClaimError::EmptyExpression);
    }
    // Brackets inside string literals count too: a literal with more than
    // MAX_BRACKET_DEPTH unclosed brackets is refused, which errs on the safe side.
    let mut depth = 0usize;
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Err(ClaimError::NestedTooDeep);
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Runs the engine, turning a panic inside it into [`ClaimError::Internal`]
/// so that a bug in Rhai costs one claim, not a worker thread. The fuzz
/// target treats `Internal` as a crash.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T, ClaimError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ClaimError::Internal)
}

fn syntax_error(err: ParseError) -> ClaimError {
    parse_error(*err.0, err.1)
}

fn parse_error(kind: ParseErrorType, pos: Position) -> ClaimError {
    match kind {
        ParseErrorType::ExprTooDeep => ClaimError::TooComplex { at: pos.into() },
        kind => ClaimError::Syntax { at: pos.into(), message: kind.to_string() },
    }
}

fn evaluation_error(mut err: EvalAltResult) -> ClaimError {
    let at = At::from(err.take_position());
    match err {
        EvalAltResult::ErrorTooManyOperations(..) => ClaimError::TooManyOperations,
        EvalAltResult::ErrorDataTooLarge(what, ..) => {
            let what = match what.as_str() {
                "Length of string" => "a string",
                "Size of array/BLOB" => "an array",
                "Size of object map" => "a map",
                _ => "a value",
            };
            ClaimError::TooLarge { what, at }
        }
        EvalAltResult::ErrorParsing(kind, pos) => parse_error(kind, pos),
        // A built-in that failed inside another call: the inner error is the one to fix.
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => evaluation_error(*inner),
        other => ClaimError::Evaluation { at, message: other.to_string() },
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
