//! Operations endpoints.

use crate::harness::Server;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let s = Server::start().await;
    let get = |p: &str| s.http.get(format!("{}{p}", s.base)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    let id = health.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16, "every answer carries its request id");
    assert_ne!(get("/healthz").await.unwrap().headers()["x-request-id"].to_str().unwrap(), id);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, "wrong"))).await;
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(text.contains("signetd_grants_total{grant_type=\"client_credentials\"} 1"), "{text}");
    assert!(text.contains("signetd_failures_total{reason=\"invalid_client\"} 1"), "{text}");
    let token = "route=\"/{env}/as/token\",method=\"POST\"";
    assert!(text.contains(&format!("signetd_http_requests_total{{{token},status=\"2xx\"}} 1")), "{text}");
    assert!(
        text.contains(&format!("signetd_http_request_duration_seconds_count{{{token},status=\"4xx\"}} 1")),
        "{text}"
    );
    s.store().close().await;
    assert_eq!(get("/readyz").await.unwrap().status(), 503, "readiness follows the store");
}
