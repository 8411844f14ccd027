//! Save-time checks of notification settings. Interim: replaced by the notify module's
//! template and phone functions when the notifier plugins land.

pub(crate) const DEFAULT_COUNTRY_CODE: &str = "62";

const VARIABLES: &[&str] = &[
    "branch_name", "branch_code", "device_name", "device_id", "re_id", "person_name",
    "detected_count", "timestamp", "date", "time", "total_actual_count",
    "total_detection_branch_count",
];

/// Digits only, leading `0` → country code, 8..=15 digits.
pub(crate) fn normalize_phone(raw: &str, country: &str) -> Result<String, String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '+'))
        .collect();
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_digit()) {
        return Err("is not a phone number".into());
    }
    let n = match cleaned.strip_prefix('0') {
        Some(rest) => format!("{country}{rest}"),
        None => cleaned,
    };
    if (8..=15).contains(&n.len()) {
        Ok(n)
    } else {
        Err("must have 8 to 15 digits".into())
    }
}

/// Every `{name}` and `{{ name }}` must be a known variable.
pub(crate) fn validate_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let (inner, tail) = if let Some(a) = after.strip_prefix('{') {
            let end = a.find("}}").ok_or("unclosed {{ in template")?;
            (&a[..end], &a[end + 2..])
        } else {
            let Some(end) = after.find('}') else { break };
            (&after[..end], &after[end + 1..])
        };
        let name = inner.trim();
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !VARIABLES.contains(&name)
        {
            return Err(format!("unknown template variable {name:?}"));
        }
        rest = tail;
    }
    Ok(())
}
