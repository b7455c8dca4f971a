//! Reads the DynamoDB table definitions out of `template.yaml`, resolving the few intrinsic
//! functions they use (`!Sub` with pseudo parameters, `!Ref` to a parameter default).
//!
//! Promise: local tables are created from exactly what the template says, so they cannot drift
//! from what `sam deploy` creates; anything the resolver does not understand is an error, never
//! silently dropped.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// Values of the pseudo parameters when a template is instantiated locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub account_id: String,
}

impl Stack {
    /// The emulator's defaults (moto's account id).
    pub fn local(name: impl Into<String>) -> Stack {
        Stack {
            name: name.into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
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

    /// Every DynamoDB table, resolved for `stack`.
    pub fn tables(&self, stack: &Stack) -> Result<Vec<TableDefinition>, TemplateError> {
        let mut tables = Vec::new();
        for (id, resource) in self.resources()? {
            let logical_id = id.as_str().unwrap_or_default().to_owned();
            if resource.get("Type").and_then(Yaml::as_str) != Some("AWS::DynamoDB::Table") {
                continue;
            }
            let properties = resource
                .get("Properties")
                .ok_or_else(|| TemplateError::Shape(format!("{logical_id} has no Properties")))?;
            let properties = self.resolve(properties, stack, &logical_id)?;
            let table_name = properties["TableName"]
                .as_str()
                .ok_or_else(|| TemplateError::Shape(format!("{logical_id} has no TableName")))?
                .to_owned();
            tables.push(TableDefinition {
                logical_id,
                table_name,
                properties,
            });
        }
        Ok(tables)
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

    fn resolve(&self, value: &Yaml, stack: &Stack, location: &str) -> Result<Json, TemplateError> {
        Ok(match value {
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                match (tag.trim_start_matches('!'), &tagged.value) {
                    ("Sub", Yaml::String(text)) => Json::String(substitute(text, stack, location)?),
                    ("Ref", Yaml::String(name)) => self.reference(name, stack, location)?,
                    (other, _) => {
                        return Err(TemplateError::Unresolvable {
                            location: location.into(),
                            what: format!("!{other}"),
                        });
                    }
                }
            }
            Yaml::Mapping(mapping) => {
                let mut object = serde_json::Map::new();
                for (key, value) in mapping {
                    let key = key.as_str().unwrap_or_default().to_owned();
                    let inner = format!("{location}.{key}");
                    object.insert(key, self.resolve(value, stack, &inner)?);
                }
                Json::Object(object)
            }
            Yaml::Sequence(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.resolve(item, stack, &format!("{location}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            plain => {
                serde_json::to_value(plain).map_err(|e| TemplateError::Shape(e.to_string()))?
            }
        })
    }

    fn reference(&self, name: &str, stack: &Stack, location: &str) -> Result<Json, TemplateError> {
        match name {
            "AWS::StackName" => Ok(Json::String(stack.name.clone())),
            "AWS::Region" => Ok(Json::String(stack.region.clone())),
            "AWS::AccountId" => Ok(Json::String(stack.account_id.clone())),
            "AWS::Partition" => Ok(Json::String("aws".into())),
            parameter => {
                self.parameter_default(parameter)
                    .ok_or_else(|| TemplateError::Unresolvable {
                        location: location.into(),
                        what: format!("!Ref {parameter}"),
                    })
            }
        }
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

/// `!Sub` over pseudo parameters only.
fn substitute(text: &str, stack: &Stack, location: &str) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| TemplateError::Shape(format!("{location}: unclosed ${{ in {text:?}")))?;
        let name = &rest[start + 2..start + end];
        let value = match name {
            "AWS::StackName" => stack.name.as_str(),
            "AWS::Region" => stack.region.as_str(),
            "AWS::AccountId" => stack.account_id.as_str(),
            "AWS::Partition" => "aws",
            other => {
                return Err(TemplateError::Unresolvable {
                    location: location.into(),
                    what: format!("${{{other}}}"),
                });
            }
        };
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_pseudo_parameters_and_refuses_others() {
        let stack = Stack::local("demo");
        assert_eq!(
            substitute("${AWS::StackName}-signals", &stack, "x").unwrap(),
            "demo-signals"
        );
        assert_eq!(
            substitute(
                "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/t",
                &stack,
                "x"
            )
            .unwrap(),
            "arn:aws:dynamodb:us-east-1:123456789012:table/t"
        );
        assert!(matches!(
            substitute("${Bucket}", &stack, "x"),
            Err(TemplateError::Unresolvable { .. })
        ));
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
            "template.yaml: T.TableName: cannot resolve !GetAtt locally"
        );
    }
}
