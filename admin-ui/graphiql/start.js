// GraphiQL on this server's GraphQL endpoint. Put the credential in the Headers tab:
// {"Authorization": "Bearer <your API key>"}; it is not stored in the browser.
(function () {
  var fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", window.location.href).href });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: "headers",
      defaultHeaders: '{\n  "Authorization": "Bearer <your API key>"\n}',
      shouldPersistHeaders: false,
    })
  );
})();
