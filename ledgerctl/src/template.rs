//! Reads resource definitions (DynamoDB tables, the vault bucket and its policy, KMS keys) out of
//! `template.yaml`, resolving the few intrinsic functions they use: `!Sub` and `!Ref` with pseudo
//! parameters and parameter defaults, and — for S3 buckets only — `!Ref <bucket>` (its
//! `BucketName`) and `!GetAtt <bucket>.Arn`, also inside `!Sub` as `${Bucket}` / `${Bucket.Arn}`.
//! Conditions are evaluated with the parameters' defaults: `!If` picks its branch, `!Ref
//! AWS::NoValue` removes the property or list item, and a resource whose `Condition` is false is
//! not part of the stack.
//!
//! Promise: local tables are created from exactly what the template says, so they cannot drift
//! from what `sam deploy` creates; anything the resolver does not understand is an error, never
//! silently dropped.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// Values of the pseudo parameters when a template is instantiated locally, and of the
/// parameters that have no default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub account_id: String,
    /// Parameter values used instead of the defaults.
    pub parameters: BTreeMap<String, Json>,
}

impl Stack {
    /// The emulator's defaults (moto's account id), and a stand-in `<name>-break-glass` role
    /// for `BreakGlassRoleArn`, which has no default (a deployment must name its own).
    pub fn local(name: impl Into<String>) -> Stack {
        let name = name.into();
        let account_id = "123456789012";
        let break_glass = format!("arn:aws:iam::{account_id}:role/{name}-break-glass");
        Stack {
            parameters: BTreeMap::from([(
                "BreakGlassRoleArn".to_owned(),
                Json::String(break_glass),
            )]),
            name,
            region: "us-east-1".into(),
            account_id: account_id.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml is not valid YAML")]
    Yaml(#[from] serde_norway::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
    #[error("template.yaml: {location}: cannot resolve {what} locally")]
    Unresolvable { location: String, what: String },
}

/// One `AWS::DynamoDB::Table`, with its properties resolved to plain JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDefinition {
    pub logical_id: String,
    pub table_name: String,
    pub properties: Json,
}

impl TableDefinition {
    /// `(attribute name, key type)` of the key schema, in order.
    pub fn key_schema(&self) -> Vec<(String, String)> {
        pairs(&self.properties["KeySchema"], "AttributeName", "KeyType")
    }

    /// `(attribute name, attribute type)` of the attribute definitions, in order.
    pub fn attribute_definitions(&self) -> Vec<(String, String)> {
        pairs(
            &self.properties["AttributeDefinitions"],
            "AttributeName",
            "AttributeType",
        )
    }
}

/// Any resource, with its properties resolved to plain JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDefinition {
    pub logical_id: String,
    pub properties: Json,
}

impl ResourceDefinition {
    /// A string property that must be there.
    pub fn string(&self, key: &str) -> Result<String, TemplateError> {
        self.properties[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| TemplateError::Shape(format!("{} has no {key}", self.logical_id)))
    }
}

/// One `AWS::S3::Bucket`, with its properties resolved to plain JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketDefinition {
    pub logical_id: String,
    pub bucket_name: String,
    pub properties: Json,
}

fn pairs(list: &Json, first: &str, second: &str) -> Vec<(String, String)> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let text = |key: &str| item[key].as_str().unwrap_or_default().to_owned();
                    (text(first), text(second))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Yaml,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            root: serde_norway::from_str(text)?,
        })
    }

    fn resources(&self) -> Result<&serde_norway::Mapping, TemplateError> {
        self.root
            .get("Resources")
            .and_then(Yaml::as_mapping)
            .ok_or_else(|| TemplateError::Shape("no Resources section".into()))
    }

    /// The resource `logical_id`, unresolved.
    pub fn resource(&self, logical_id: &str) -> Option<&Yaml> {
        self.resources().ok()?.get(logical_id)
    }

    /// Every resource of `resource_type` (e.g. `AWS::KMS::Key`), its properties resolved for
    /// `stack`, in template order.
    pub fn resources_of_type(
        &self,
        resource_type: &str,
        stack: &Stack,
    ) -> Result<Vec<ResourceDefinition>, TemplateError> {
        let mut found = Vec::new();
        for (id, resource) in self.resources()? {
            let logical_id = id.as_str().unwrap_or_default().to_owned();
            if resource.get("Type").and_then(Yaml::as_str) != Some(resource_type) {
                continue;
            }
            if let Some(condition) = resource.get("Condition") {
                let name = condition.as_str().ok_or_else(|| {
                    TemplateError::Shape(format!("{logical_id}.Condition is not a name"))
                })?;
                if !self.condition(name, stack, &logical_id, 0)? {
                    continue;
                }
            }
            let properties = resource
                .get("Properties")
                .ok_or_else(|| TemplateError::Shape(format!("{logical_id} has no Properties")))?;
            let properties = self
                .resolve(properties, stack, &logical_id, 0)?
                .unwrap_or(Json::Null);
            found.push(ResourceDefinition {
                logical_id,
                properties,
            });
        }
        Ok(found)
    }

    /// Every DynamoDB table, resolved for `stack`.
    pub fn tables(&self, stack: &Stack) -> Result<Vec<TableDefinition>, TemplateError> {
        self.resources_of_type(TABLE, stack)?
            .into_iter()
            .map(|resource| {
                let table_name = resource.string("TableName")?;
                Ok(TableDefinition {
                    logical_id: resource.logical_id,
                    table_name,
                    properties: resource.properties,
                })
            })
            .collect()
    }

    /// Every S3 bucket, resolved for `stack`. A bucket must name itself (`BucketName`): a name
    /// CloudFormation would generate cannot be known locally.
    pub fn buckets(&self, stack: &Stack) -> Result<Vec<BucketDefinition>, TemplateError> {
        self.resources_of_type(BUCKET, stack)?
            .into_iter()
            .map(|resource| {
                let bucket_name = resource.string("BucketName")?;
                Ok(BucketDefinition {
                    logical_id: resource.logical_id,
                    bucket_name,
                    properties: resource.properties,
                })
            })
            .collect()
    }

    /// Every S3 bucket policy (its `Bucket` resolved to the bucket's name), resolved for `stack`.
    pub fn bucket_policies(&self, stack: &Stack) -> Result<Vec<ResourceDefinition>, TemplateError> {
        self.resources_of_type(BUCKET_POLICY, stack)
    }

    /// Every KMS key, resolved for `stack`.
    pub fn kms_keys(&self, stack: &Stack) -> Result<Vec<ResourceDefinition>, TemplateError> {
        self.resources_of_type(KMS_KEY, stack)
    }

    /// Every CloudWatch alarm, resolved for `stack` (functions by their binary names, the topic
    /// by the ARN it would have).
    pub fn alarms(&self, stack: &Stack) -> Result<Vec<ResourceDefinition>, TemplateError> {
        self.resources_of_type(ALARM, stack)
    }

    /// Environment variable names and values (unresolved, as YAML) of a function.
    pub fn function_environment(&self, logical_id: &str) -> BTreeMap<String, Yaml> {
        self.resource(logical_id)
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(Yaml::as_mapping)
            .map(|vars| {
                vars.iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The whole template in CloudFormation's JSON form: `!Ref x` becomes `{"Ref": x}` and any
    /// other `!Tag x` becomes `{"Fn::Tag": x}`. Nothing is resolved.
    pub fn to_json(&self) -> Json {
        cloudformation_json(&self.root)
    }

    fn parameter_default(&self, name: &str) -> Option<Json> {
        let default = self.root.get("Parameters")?.get(name)?.get("Default")?;
        serde_json::to_value(default).ok()
    }

    /// `value` with its intrinsic functions resolved; `None` for `!Ref AWS::NoValue`, which
    /// removes the property or list item holding it.
    fn resolve(
        &self,
        value: &Yaml,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        Ok(Some(match value {
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let name = tag.trim_start_matches('!');
                return self.intrinsic(name, &tagged.value, stack, location, depth);
            }
            Yaml::Mapping(mapping) => {
                // The long forms, `Ref: x` and `Fn::Sub: ...`, are the same functions.
                if let Some((name, value)) = single_intrinsic(mapping) {
                    return self.intrinsic(name, value, stack, location, depth);
                }
                let mut object = serde_json::Map::new();
                for (key, value) in mapping {
                    let key = key.as_str().unwrap_or_default().to_owned();
                    let inner = format!("{location}.{key}");
                    if let Some(value) = self.resolve(value, stack, &inner, depth)? {
                        object.insert(key, value);
                    }
                }
                Json::Object(object)
            }
            Yaml::Sequence(items) => {
                let mut resolved = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let inner = format!("{location}[{i}]");
                    resolved.extend(self.resolve(item, stack, &inner, depth)?);
                }
                Json::Array(resolved)
            }
            plain => {
                serde_json::to_value(plain).map_err(|e| TemplateError::Shape(e.to_string()))?
            }
        }))
    }

    /// `value`, which must not be `!Ref AWS::NoValue`.
    fn resolve_some(
        &self,
        value: &Yaml,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<Json, TemplateError> {
        self.resolve(value, stack, location, depth)?
            .ok_or_else(|| unresolvable(location, "!Ref AWS::NoValue here"))
    }

    /// The condition `name` of the `Conditions` section, evaluated with the parameter defaults.
    fn condition(
        &self,
        name: &str,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<bool, TemplateError> {
        if depth >= MAX_REFERENCE_DEPTH {
            return Err(TemplateError::Shape(format!(
                "{location}: conditions nest deeper than {MAX_REFERENCE_DEPTH} (a cycle?)"
            )));
        }
        let expression = self
            .root
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| unresolvable(location, format!("the condition {name}")))?;
        self.evaluate(expression, stack, &format!("Conditions.{name}"), depth + 1)
    }

    /// A condition expression: `!Equals`, `!Not`, `!And`, `!Or` or `!Condition` (short or long form).
    fn evaluate(
        &self,
        expression: &Yaml,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<bool, TemplateError> {
        let (name, argument) = match expression {
            Yaml::Tagged(tagged) => (
                tagged.tag.to_string().trim_start_matches('!').to_owned(),
                &tagged.value,
            ),
            Yaml::Mapping(mapping) => match mapping.iter().next() {
                Some((key, value)) if mapping.len() == 1 => {
                    let key = key.as_str().unwrap_or_default();
                    (key.strip_prefix("Fn::").unwrap_or(key).to_owned(), value)
                }
                _ => return Err(unresolvable(location, "this condition")),
            },
            _ => return Err(unresolvable(location, "this condition")),
        };
        let operands = || match argument {
            Yaml::Sequence(items) => Ok(items.as_slice()),
            _ => Err(unresolvable(location, format!("!{name} without a list"))),
        };
        match name.as_str() {
            "Equals" => match operands()? {
                [a, b] => {
                    let a = self.resolve_some(a, stack, location, depth)?;
                    let b = self.resolve_some(b, stack, location, depth)?;
                    Ok(scalar_text(&a) == scalar_text(&b))
                }
                _ => Err(unresolvable(location, "!Equals without two operands")),
            },
            "Not" => match operands()? {
                [inner] => Ok(!self.evaluate(inner, stack, location, depth)?),
                _ => Err(unresolvable(location, "!Not without one operand")),
            },
            "And" | "Or" => {
                let mut results = Vec::new();
                for inner in operands()? {
                    results.push(self.evaluate(inner, stack, location, depth)?);
                }
                Ok(if name == "And" {
                    results.iter().all(|r| *r)
                } else {
                    results.iter().any(|r| *r)
                })
            }
            "Condition" => match argument {
                Yaml::String(other) => self.condition(other, stack, location, depth),
                _ => Err(unresolvable(location, "!Condition without a name")),
            },
            other => Err(unresolvable(location, format!("!{other} in a condition"))),
        }
    }

    fn intrinsic(
        &self,
        name: &str,
        value: &Yaml,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<Option<Json>, TemplateError> {
        match (name, value) {
            ("Ref", Yaml::String(name)) if name == "AWS::NoValue" => Ok(None),
            ("If", Yaml::Sequence(parts)) => match parts.as_slice() {
                [Yaml::String(condition), then, otherwise] => {
                    let branch = if self.condition(condition, stack, location, depth)? {
                        then
                    } else {
                        otherwise
                    };
                    self.resolve(branch, stack, location, depth)
                }
                _ => Err(unresolvable(location, "!If with this argument")),
            },
            _ => self
                .intrinsic_value(name, value, stack, location, depth)
                .map(Some),
        }
    }

    fn intrinsic_value(
        &self,
        name: &str,
        value: &Yaml,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<Json, TemplateError> {
        match (name, value) {
            ("Sub", Yaml::String(text)) => {
                Ok(Json::String(substitute(
                    text,
                    location,
                    |name| match name.split_once('.') {
                        Some((id, attribute)) => {
                            self.attribute(id, attribute, stack, location, depth)
                        }
                        None => self.reference(name, stack, location, depth),
                    },
                )?))
            }
            ("Ref", Yaml::String(name)) => self.reference(name, stack, location, depth),
            ("GetAtt", Yaml::String(path)) => match path.split_once('.') {
                Some((id, attribute)) => self.attribute(id, attribute, stack, location, depth),
                None => Err(unresolvable(location, format!("!GetAtt {path}"))),
            },
            ("GetAtt", Yaml::Sequence(parts)) => match parts.as_slice() {
                [Yaml::String(id), Yaml::String(attribute)] => {
                    self.attribute(id, attribute, stack, location, depth)
                }
                _ => Err(unresolvable(location, "!GetAtt with this argument")),
            },
            (other, _) => Err(unresolvable(location, format!("!{other}"))),
        }
    }

    /// `!Ref name`: a pseudo parameter, a parameter's default, or a bucket's name.
    fn reference(
        &self,
        name: &str,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<Json, TemplateError> {
        match name {
            "AWS::StackName" => Ok(Json::String(stack.name.clone())),
            "AWS::Region" => Ok(Json::String(stack.region.clone())),
            "AWS::AccountId" => Ok(Json::String(stack.account_id.clone())),
            "AWS::Partition" => Ok(Json::String("aws".into())),
            name if self.resource_type(name) == Some(BUCKET) => Ok(Json::String(
                self.bucket_name(name, stack, location, depth)?,
            )),
            // A function's name is generated on AWS; locally it is the binary cargo lambda
            // serves, which is also what its metrics' FunctionName dimension says there.
            name if self.resource_type(name) == Some(FUNCTION) => self
                .resource(name)
                .and_then(|f| {
                    f.get("Metadata")?
                        .get("BuildProperties")?
                        .get("Binary")?
                        .as_str()
                })
                .map(|binary| Json::String(binary.to_owned()))
                .ok_or_else(|| {
                    unresolvable(
                        location,
                        format!("!Ref {name} (no Metadata.BuildProperties.Binary)"),
                    )
                }),
            // A topic's Ref is its ARN, generated from the stack and logical id on AWS.
            name if self.resource_type(name) == Some(TOPIC) => Ok(Json::String(format!(
                "arn:aws:sns:{}:{}:{}-{name}",
                stack.region, stack.account_id, stack.name
            ))),
            parameter => (stack.parameters.get(parameter).cloned())
                .or_else(|| self.parameter_default(parameter))
                .ok_or_else(|| unresolvable(location, format!("!Ref {parameter}"))),
        }
    }

    /// `!GetAtt id.attribute`: only a bucket's `Arn`.
    fn attribute(
        &self,
        id: &str,
        attribute: &str,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<Json, TemplateError> {
        if self.resource_type(id) == Some(BUCKET) && attribute == "Arn" {
            let name = self.bucket_name(id, stack, location, depth)?;
            return Ok(Json::String(format!("arn:aws:s3:::{name}")));
        }
        Err(unresolvable(location, format!("!GetAtt {id}.{attribute}")))
    }

    fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resource(logical_id)?.get("Type")?.as_str()
    }

    fn bucket_name(
        &self,
        logical_id: &str,
        stack: &Stack,
        location: &str,
        depth: usize,
    ) -> Result<String, TemplateError> {
        if depth >= MAX_REFERENCE_DEPTH {
            return Err(TemplateError::Shape(format!(
                "{location}: references nest deeper than {MAX_REFERENCE_DEPTH} (a cycle?)"
            )));
        }
        let name = self
            .resource(logical_id)
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("BucketName"))
            .ok_or_else(|| {
                unresolvable(
                    location,
                    format!("the name of {logical_id}, which has no BucketName"),
                )
            })?;
        let inner = format!("{logical_id}.BucketName");
        match self.resolve_some(name, stack, &inner, depth + 1)? {
            Json::String(name) => Ok(name),
            _ => Err(TemplateError::Shape(format!("{inner} is not a string"))),
        }
    }
}

const TABLE: &str = "AWS::DynamoDB::Table";
const BUCKET: &str = "AWS::S3::Bucket";
const BUCKET_POLICY: &str = "AWS::S3::BucketPolicy";
const KMS_KEY: &str = "AWS::KMS::Key";
const ALARM: &str = "AWS::CloudWatch::Alarm";
const FUNCTION: &str = "AWS::Serverless::Function";
const TOPIC: &str = "AWS::SNS::Topic";
const MAX_REFERENCE_DEPTH: usize = 8;

/// A scalar as text, so that a `Number` parameter's default equals the string `"3"` as it does in
/// CloudFormation; anything else as its JSON.
fn scalar_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `(Ref, x)` or `(X, y)` when the mapping is exactly `Ref: x` or `Fn::X: y`.
fn single_intrinsic(mapping: &serde_norway::Mapping) -> Option<(&str, &Yaml)> {
    if mapping.len() != 1 {
        return None;
    }
    let (key, value) = mapping.iter().next()?;
    let key = key.as_str()?;
    let name = if key == "Ref" {
        key
    } else {
        key.strip_prefix("Fn::")?
    };
    Some((name, value))
}

fn unresolvable(location: &str, what: impl Into<String>) -> TemplateError {
    TemplateError::Unresolvable {
        location: location.into(),
        what: what.into(),
    }
}

fn cloudformation_json(value: &Yaml) -> Json {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            serde_json::json!({ key: cloudformation_json(&tagged.value) })
        }
        Yaml::Mapping(mapping) => Json::Object(
            mapping
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap_or_default().to_owned(),
                        cloudformation_json(v),
                    )
                })
                .collect(),
        ),
        Yaml::Sequence(items) => Json::Array(items.iter().map(cloudformation_json).collect()),
        plain => serde_json::to_value(plain).unwrap_or(Json::Null),
    }
}

/// `!Sub`: each `${name}` replaced by `value(name)`, which must be a string.
fn substitute(
    text: &str,
    location: &str,
    value: impl Fn(&str) -> Result<Json, TemplateError>,
) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| TemplateError::Shape(format!("{location}: unclosed ${{ in {text:?}")))?;
        let name = &rest[start + 2..start + end];
        match value(name) {
            Ok(Json::String(value)) => out.push_str(&value),
            Ok(Json::Number(number)) => out.push_str(&number.to_string()),
            Ok(_) => {
                return Err(unresolvable(
                    location,
                    format!("${{{name}}} (not a string)"),
                ));
            }
            Err(TemplateError::Unresolvable { .. }) => {
                return Err(unresolvable(location, format!("${{{name}}}")));
            }
            Err(other) => return Err(other),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolved properties of the one resource of type `Test::Thing` in `resources`.
    fn resolve_thing(resources: &str) -> Result<Json, TemplateError> {
        let template = Template::parse(&format!("Resources:\n{resources}")).unwrap();
        let mut things = template.resources_of_type("Test::Thing", &Stack::local("demo"))?;
        assert_eq!(things.len(), 1);
        Ok(things.remove(0).properties)
    }

    const BUCKET: &str = "  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"${AWS::StackName}-b-${AWS::AccountId}\"\n";

    #[test]
    fn substitutes_pseudo_parameters_and_refuses_others() {
        let properties = resolve_thing(
            "  T:\n    Type: Test::Thing\n    Properties:\n      A: !Sub \"${AWS::StackName}-signals\"\n      B: !Sub \"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/t\"\n",
        )
        .unwrap();
        assert_eq!(properties["A"], "demo-signals");
        assert_eq!(
            properties["B"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/t"
        );
        let error = resolve_thing(
            "  T:\n    Type: Test::Thing\n    Properties:\n      A: !Sub \"x-${Bucket}\"\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "template.yaml: T.A: cannot resolve ${Bucket} locally"
        );
    }

    #[test]
    fn unsupported_intrinsics_are_errors() {
        let template = Template::parse(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !GetAtt X.Name\n",
        )
        .unwrap();
        let error = template.tables(&Stack::local("s")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "template.yaml: T.TableName: cannot resolve !GetAtt X.Name locally"
        );
        let error = resolve_thing(
            "  T:\n    Type: Test::Thing\n    Properties:\n      A: !Join [\"\", [a, b]]\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "template.yaml: T.A: cannot resolve !Join locally"
        );
        // The long form is the same function, not a mapping that slips through.
        let error = resolve_thing("  T:\n    Type: Test::Thing\n    Properties:\n      A:\n        Fn::Join: [\"\", [a, b]]\n")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "template.yaml: T.A: cannot resolve !Join locally"
        );
    }

    #[test]
    fn a_bucket_resolves_to_its_name_and_arn() {
        let properties = resolve_thing(&format!(
            "{BUCKET}  T:\n    Type: Test::Thing\n    Properties:\n      Name: !Ref B\n      Arn: !GetAtt B.Arn\n      Objects: !Sub \"${{B.Arn}}/*\"\n      Prefixed: !Sub \"s3://${{B}}/x\"\n      LongRef:\n        Ref: B\n      LongArn:\n        Fn::GetAtt: [B, Arn]\n"
        ))
        .unwrap();
        assert_eq!(properties["Name"], "demo-b-123456789012");
        assert_eq!(properties["Arn"], "arn:aws:s3:::demo-b-123456789012");
        assert_eq!(properties["Objects"], "arn:aws:s3:::demo-b-123456789012/*");
        assert_eq!(properties["Prefixed"], "s3://demo-b-123456789012/x");
        assert_eq!(properties["LongRef"], "demo-b-123456789012");
        assert_eq!(properties["LongArn"], "arn:aws:s3:::demo-b-123456789012");
    }

    #[test]
    fn other_resource_references_stay_errors() {
        for (value, what) in [
            ("!GetAtt B.DomainName", "!GetAtt B.DomainName"),
            ("!Ref K", "!Ref K"),
            ("!GetAtt K.Arn", "!GetAtt K.Arn"),
            ("!Sub \"${K.Arn}\"", "${K.Arn}"),
            (
                "!Ref Unnamed",
                "the name of Unnamed, which has no BucketName",
            ),
        ] {
            let error = resolve_thing(&format!(
                "{BUCKET}  K:\n    Type: AWS::KMS::Key\n    Properties:\n      KeySpec: ECC_NIST_P256\n  Unnamed:\n    Type: AWS::S3::Bucket\n    Properties:\n      VersioningConfiguration:\n        Status: Enabled\n  T:\n    Type: Test::Thing\n    Properties:\n      A: {value}\n"
            ))
            .unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("template.yaml: T.A: cannot resolve {what} locally"),
                "{value}"
            );
        }
        let cycle = Template::parse(
            "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref B\n",
        )
        .unwrap();
        assert!(matches!(
            cycle.buckets(&Stack::local("s")),
            Err(TemplateError::Shape(_))
        ));
    }

    #[test]
    fn conditions_pick_branches_and_drop_resources() {
        let template = Template::parse(concat!(
            "Parameters:\n  Mode:\n    Type: String\n    Default: a\n",
            "  Size:\n    Type: Number\n    Default: 3\n",
            "Conditions:\n  IsA: !Equals [!Ref Mode, a]\n  IsB: !Not [!Condition IsA]\n",
            "  SizeThree:\n    Fn::And: [!Equals [!Ref Size, \"3\"], !Condition IsA]\n",
            "Resources:\n  T:\n    Type: Test::Thing\n    Properties:\n",
            "      Picked: !If [IsA, \"picked\", \"other\"]\n",
            "      Dropped: !If [IsB, x, !Ref AWS::NoValue]\n",
            "      List: [one, !If [IsB, two, !Ref AWS::NoValue], three]\n",
            "      Long:\n        Fn::If: [SizeThree, 3, 4]\n",
            "  Skipped:\n    Type: Test::Thing\n    Condition: IsB\n    Properties:\n      A: b\n",
            "  Unknown:\n    Type: Other::Thing\n    Properties:\n      A: !If [Nope, a, b]\n",
        ))
        .unwrap();
        let stack = Stack::local("s");
        let things = template.resources_of_type("Test::Thing", &stack).unwrap();
        assert_eq!(things.len(), 1);
        assert_eq!(
            things[0].properties,
            serde_json::json!({"Picked": "picked", "List": ["one", "three"], "Long": 3})
        );
        assert_eq!(
            template
                .resources_of_type("Other::Thing", &stack)
                .unwrap_err()
                .to_string(),
            "template.yaml: Unknown.A: cannot resolve the condition Nope locally"
        );
    }

    #[test]
    fn the_template_defines_the_vault_and_the_signing_key() {
        let template = Template::parse(include_str!("../../template.yaml")).unwrap();
        let stack = Stack::local("demo");
        let buckets = template.buckets(&stack).unwrap();
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0].logical_id, "VaultBucket");
        assert_eq!(buckets[0].bucket_name, "demo-vault-123456789012");
        assert_eq!(buckets[1].logical_id, "VaultAccessLogBucket");
        let policies = template.bucket_policies(&stack).unwrap();
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[0].properties["Bucket"], "demo-vault-123456789012");
        assert_eq!(
            policies[0].properties["PolicyDocument"]["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:s3:::demo-vault-123456789012",
                "arn:aws:s3:::demo-vault-123456789012/*"
            ])
        );
        let keys = template.kms_keys(&stack).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].logical_id, "CheckpointSigningKey");
        assert_eq!(keys[0].properties["KeySpec"], "ECC_NIST_P256");
        assert_eq!(
            keys[0].properties["KeyPolicy"]["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::123456789012:root"
        );
    }
}
