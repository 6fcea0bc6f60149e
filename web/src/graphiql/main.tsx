// placeholder until GraphiQL is bundled
export {};
