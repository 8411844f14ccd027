use super::*;

fn vars() -> TemplateVars {
    TemplateVars {
        branch_name: "Jakarta Central".into(),
        branch_code: "JKT001".into(),
        device_name: "Entrance <A&B>".into(),
        device_id: "CAM_1".into(),
        re_id: "REID_7".into(),
        person_name: "Budi".into(),
        detected_count: 3,
        total_actual_count: 9,
        total_detection_branch_count: 2,
        ..Default::default()
    }
    .with_time(
        &"2026-01-31T08:05:09+07:00[Asia/Jakarta]"
            .parse::<jiff::ZonedDateTime>()
            .unwrap(),
    )
}

#[test]
fn templates_render_as_expected() {
    let cases = [
        ("{branch_name}", "Jakarta Central"),
        ("{{ branch_code }}/{device_id}", "JKT001/CAM_1"),
        ("{person_name} x{detected_count}", "Budi x3"),
        (
            "{timestamp}|{date}|{time}",
            "2026-01-31 08:05:09|2026-01-31|08:05:09",
        ),
        ("{total_actual_count}/{total_detection_branch_count}", "9/2"),
        ("{{ re_id | lower }}", "reid_7"),
        (
            "{% if detected_count > 2 %}many{% else %}few{% endif %}",
            "many",
        ),
        // Plain text: no HTML escaping.
        ("{device_name}", "Entrance <A&B>"),
        // Literal braces that are not placeholders survive.
        ("{{ '{' }}x{{ '}' }} {\"k\": 1}", "{x} {\"k\": 1}"),
        ("line one\n", "line one\n"),
        ("{% for i in range(2) %}{{ i }}{% endfor %}", "01"),
    ];
    for (source, expected) in cases {
        assert_eq!(
            render_template(source, &vars()).as_deref(),
            Ok(expected),
            "template {source:?}"
        );
    }
}

#[test]
fn validation_accepts_good_templates_and_names_the_problem_in_bad_ones() {
    let ok = [
        "Person {person_name} seen at {branch_name} ({device_name}) at {time}",
        "{{ person_name }} x {{ detected_count + 1 }}",
        "{% set who = person_name %}{{ who }}",
        "no variables at all",
    ];
    for source in ok {
        assert_eq!(validate_template(source), Ok(()), "template {source:?}");
    }

    let unknown = validate_template("{{ colour }} and {camera} at {branch_name}").unwrap_err();
    let TemplateError::UnknownVariables { names, available } = &unknown else {
        panic!("expected unknown variables, got {unknown:?}")
    };
    assert_eq!(names, &["colour", "{camera}"]);
    assert_eq!(available.len(), VARIABLES.len());

    let syntax = validate_template("hello\n{{ branch_name ").unwrap_err();
    assert!(
        matches!(syntax, TemplateError::Syntax { line: 2, .. }),
        "{syntax:?}"
    );

    let filter = validate_template("{{ branch_name | shout }}").unwrap_err();
    assert!(matches!(filter, TemplateError::Render(_)), "{filter:?}");
}

#[test]
fn the_seeded_templates_of_the_original_work() {
    let source = "Alert {branch_name} {device_name} at {detection_time}: {status}";
    assert_eq!(validate_template(source), Ok(()));
    let rendered = MessageTemplate::compile(source)
        .unwrap()
        .render(&TemplateVars::sample())
        .unwrap();
    assert_eq!(
        rendered,
        "Alert Jakarta Central Entrance at 2026-01-31 08:15:00: detection"
    );
    let err = validate_template("Alert {branch_name} at {camera}: {state}").unwrap_err();
    assert_eq!(
        err.to_string().split(';').next(),
        Some("unknown variable(s): {camera}, {state}")
    );
    let field = err.to_validation_errors("message_template");
    assert!(field.has("message_template"));
}

#[test]
fn rendering_with_a_missing_variable_fails_instead_of_printing_nothing() {
    let template = MessageTemplate::compile_with("{{ text }}!", &["text"]).unwrap();
    assert_eq!(
        template
            .render(&serde_json::json!({"text": "hi"}))
            .as_deref(),
        Ok("hi!")
    );
    let err = template.render(&serde_json::json!({})).unwrap_err();
    assert!(matches!(err, TemplateError::Render(_)), "{err:?}");
}

#[test]
fn a_compiled_template_keeps_its_source_as_written() {
    let template = MessageTemplate::compile("{re_id}").unwrap();
    assert_eq!(template.source(), "{re_id}");
    assert_eq!(template.render(&vars()).unwrap(), "REID_7");
    assert_eq!(format!("{template:?}"), r#"MessageTemplate("{re_id}")"#);
}

#[test]
fn nested_loops_run_out_of_fuel_quickly_instead_of_running_for_minutes() {
    let started = std::time::Instant::now();
    let err = validate_template(
        "{% for a in range(100000) %}{% for b in range(1200) %}{{ branch_name }}{% endfor %}{% endfor %}",
    )
    .unwrap_err();
    assert!(matches!(err, TemplateError::Budget(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let huge = validate_template("{{ branch_name * 100000000 }}").unwrap_err();
    assert!(matches!(huge, TemplateError::Budget(_)), "{huge:?}");
    // An ordinary template with a loop is well within budget.
    assert_eq!(
        render_template("{% for i in range(3) %}{branch_code} {% endfor %}", &vars()).as_deref(),
        Ok("JKT001 JKT001 JKT001 ")
    );
}

#[tokio::test]
async fn renders_off_the_runtime_give_the_same_answers() {
    assert_eq!(
        render_template_off_runtime("{re_id}", &vars())
            .await
            .as_deref(),
        Ok("REID_7")
    );
    assert!(matches!(
        validate_template_off_runtime("{% for a in range(100000) %}x{% endfor %}").await,
        Err(TemplateError::Budget(_))
    ));
}
