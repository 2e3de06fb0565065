import { followLink } from "../router.ts";

export function NotFoundPage({
  title = "Page not found",
  message = "There is nothing at this address.",
}: {
  title?: string;
  message?: string;
}) {
  return (
    <section className="empty-page" aria-labelledby="not-found-title">
      <div className="empty-art" aria-hidden="true">
        404
      </div>
      <h1 id="not-found-title">{title}</h1>
      <p>{message}</p>
      <a className="button button-primary" href="/" onClick={followLink}>
        Back to sessions
      </a>
    </section>
  );
}
