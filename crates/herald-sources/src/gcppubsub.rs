//! Not implemented yet (issue 8).

use crate::runtime::SourceContext;

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    ctx.failed(
        "NotImplemented",
        "this source kind has no runtime in this build yet",
    );
    ctx.cancel.cancelled().await;
}
